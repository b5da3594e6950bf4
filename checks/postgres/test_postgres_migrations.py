"""Deployment: the database schema is at the migration head this environment expects."""

from __future__ import annotations

import psycopg
import pytest

from fixtures.measure import CheckRun, check
from probes.postgres import alembic_versions
from sergas.config import Environment

pytestmark = [pytest.mark.postgres, pytest.mark.daily]


@pytest.mark.gate
@check(
    "postgres.migrations_current",
    "alembic_version equals the environment's expected head ([postgres] alembic_head)",
)
def test_migrations_current(postgres: psycopg.Connection, check: CheckRun, environment: Environment) -> None:
    assert environment.postgres is not None  # the postgres fixture skipped otherwise
    expected = environment.postgres.alembic_head
    if expected is None:
        pytest.skip("no expected migration head: set [postgres] alembic_head in the environment file")
    versions = alembic_versions(postgres)
    if versions is None:
        check.critical(f"no alembic_version table: no migration has run (expected head {expected})")
        return
    check.attach("alembic_version", "\n".join(versions) or "(empty)")
    if versions == [expected]:
        check.ok(f"alembic_version is {expected}")
    elif not versions:
        check.critical(f"alembic_version is empty, expected {expected}")
    else:
        check.critical(f"alembic_version is {', '.join(versions)}, expected {expected} (run alembic upgrade head)")
