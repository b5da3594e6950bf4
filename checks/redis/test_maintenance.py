"""Weekly Maintenance, step 3 ("Clean old Redis keys"): find session keys that never expire.

The manual's pipeline (`--scan | xargs -L 1 redis-cli ttl | awk '$1 == -1 {print prev}' |
xargs redis-cli del`) prints the TTL values, not the key names, and would delete keys named
"-1" and "3600". This check does what it meant, read-only: the names of the keys with TTL -1.
Setting their TTL is an action (`--remediate`), not an audit.
"""

from __future__ import annotations

import pytest
import redis as redis_py

from actions.redis import DeleteStaleSessions, ExpireSessions
from fixtures.measure import CheckRun, check
from fixtures.remediation import Remediation
from probes.redis import keys_without_ttl, keyspace_db
from sergas.config import Environment
from sergas.status import Limit

pytestmark = [pytest.mark.weekly, pytest.mark.redis]

SAMPLES = 3  # key names in the message; the evidence lists up to 100


@check(
    "redis.sessions_without_ttl",
    "Redis session keys without a TTL (SCAN, TTL read on the server, read-only)",
    keys=Limit(1, 100),
    offers=(ExpireSessions, DeleteStaleSessions),
)
def test_sessions_without_ttl(
    redis: redis_py.Redis, redis_target: str, check: CheckRun, remediation: Remediation, environment: Environment
) -> None:
    assert environment.redis is not None
    pattern = environment.redis.session_pattern
    db, space = keyspace_db(redis)
    label = f"keys matching {pattern!r} without TTL"
    check.record("keys_without_ttl", space.without_ttl, label="keys without TTL in the db (INFO keyspace)")
    if space.without_ttl == 0:
        # Free upper bound: every key of the db expires, so no key matching the pattern lacks a TTL.
        check.measure("keys", 0, label=label, detail=f"db{db}: all {space.keys} keys expire")
        return
    audit = keys_without_ttl(redis, pattern)
    check.record("keys_scanned", audit.scanned)
    if audit.scanned == 0:
        check.ok(f"no key matches {pattern!r} in db{db} ({space.keys} keys)")
        return
    if audit.without_ttl:
        check.attach(f"keys matching {pattern} without TTL", "\n".join(audit.without_ttl[:100]))
    samples = ", ".join(audit.without_ttl[:SAMPLES]) + (", ..." if len(audit.without_ttl) > SAMPLES else "")
    check.measure(
        "keys",
        len(audit.without_ttl),
        label=label,
        detail=f"of {audit.scanned} scanned in db{db}" + (f": {samples}" if samples else ""),
    )
    if audit.without_ttl:
        ttl = int(environment.redis.session_ttl)
        for action in (ExpireSessions, DeleteStaleSessions):  # the second is disruptive: only when named
            remediation.offer(action(url=redis_target, keys=audit.without_ttl, ttl_s=ttl))
