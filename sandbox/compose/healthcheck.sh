# Docker's healthcheck of a replica of the sandbox app (sandbox/compose.py), run inside it:
# unhealthy while /run/sergas/unhealthy exists there (the container_unhealthy fault), otherwise
# healthy when GET $SERGAS_HEALTH_URL answers 2xx.
if [ -e /run/sergas/unhealthy ]; then
    echo "/run/sergas/unhealthy exists"
    exit 1
fi
exec "$SERGAS_PYTHON" -c '
import sys, urllib.error, urllib.request

url = sys.argv[1]
try:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as response:
        print(url, response.status)
except (urllib.error.URLError, OSError) as exc:
    sys.exit(f"{url}: {exc}")
' "$SERGAS_HEALTH_URL"
