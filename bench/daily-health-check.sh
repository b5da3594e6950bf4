#!/bin/bash
# The manual's daily-health-check.sh, adapted to the sandbox only where it must be:
# ports and credentials come from the SANDBOX_* variables, `systemctl status` becomes pgrep
# (no systemd here), journalctl becomes grep on the app's log file, jq becomes json.tool.

echo "=== Sergas Daily Health Check ==="
echo "Date: $(date)"
echo ""

echo "1. Application Status:"
pgrep -af "$SANDBOX_APP_MARKER" | head -1
echo ""

echo "2. API Health:"
curl -s "$SANDBOX_APP_URL/health" | python3 -m json.tool
echo ""

echo "3. Database Health:"
PGPASSWORD="$SANDBOX_PG_PASSWORD" psql -h 127.0.0.1 -p "$SANDBOX_PG_PORT" -U sergas -d sergas -c "SELECT
    count(*) as total_connections,
    count(*) FILTER (WHERE state = 'active') as active_connections
FROM pg_stat_activity;" -t
echo ""

echo "4. Redis Health:"
redis-cli -p "$SANDBOX_REDIS_PORT" ping
redis-cli -p "$SANDBOX_REDIS_PORT" info memory | grep used_memory_human
echo ""

echo "5. Disk Space:"
df -h | grep -E '(Filesystem|/dev/)'
echo ""

echo "6. Recent Errors (last hour):"
grep -i error "$SANDBOX_LOG_DIR/app.log" | wc -l
echo ""

echo "7. Zoho CRM Connectivity:"
curl -s "$SANDBOX_APP_URL/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["zoho"])'
echo ""

echo "8. Memory Usage:"
free -h
echo ""

echo "=== Health Check Complete ==="
