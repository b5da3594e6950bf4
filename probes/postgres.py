"""What the PostgreSQL checks read from the server: one catalog query each."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

CONNECTIONS_SQL = """
SELECT
  current_setting('max_connections')::int AS max_connections,
  current_setting('superuser_reserved_connections')::int
    + coalesce((SELECT setting::int FROM pg_settings WHERE name = 'reserved_connections'), 0) AS reserved,
  count(*) FILTER (WHERE backend_type = 'client backend') AS total,
  count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active') AS active,
  count(*) FILTER (WHERE backend_type = 'client backend' AND state LIKE 'idle in transaction%') AS idle_in_transaction
FROM pg_stat_activity
"""


@dataclass(frozen=True)
class ConnectionUsage:
    max_connections: int
    reserved: int
    total: int
    active: int
    idle_in_transaction: int

    @property
    def usable(self) -> int:
        """Slots ordinary roles can take: max_connections less the reserved ones."""
        return max(self.max_connections - self.reserved, 1)

    @property
    def used_pct(self) -> float:
        return 100.0 * self.total / self.usable


def connection_usage(conn: psycopg.Connection) -> ConnectionUsage:
    row = conn.execute(CONNECTIONS_SQL).fetchone()
    assert row is not None
    return ConnectionUsage(*row)
