"""fixtures.selection: which check modules a `-k` of check ids lets pytest skip collecting."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.selection import may_select, wanted_ids


@pytest.mark.parametrize(
    ("expression", "wanted"),
    [
        ("postgres.connections", ["postgres.connections"]),
        ("  Postgres.Connections or redis.ping ", ["postgres.connections", "redis.ping"]),
        ("postgres.", None),
        ("connections", None),
        ("postgres.connections and localhost", None),
        ("not postgres.connections", None),
        ("postgres.connections or", None),
        ("(postgres.connections)", None),
        ("", None),
    ],
)
def test_only_ids_joined_by_or_select_modules(expression: str, wanted: list[str] | None) -> None:
    assert wanted_ids(expression) == wanted


MODULE = """
@check("postgres.connections", "Client connections")
def test_connections(): ...


@check(
    "postgres.txid_wraparound",
    "Age of the oldest unfrozen transaction",
)
def test_wraparound(): ...
"""


def test_a_module_is_kept_when_one_of_its_ids_or_its_name_matches(tmp_path: Path) -> None:
    module = tmp_path / "test_postgres.py"
    module.write_text(MODULE)
    assert may_select(module, ["postgres.connections"])
    assert may_select(module, ["postgres.txid_wraparound"])
    assert may_select(module, ["postgres.connection"])  # -k matches a substring, as pytest does
    assert may_select(module, ["test_postgres.py"])  # the module's own name is a keyword too
    assert not may_select(module, ["redis.ping"])
    assert may_select(tmp_path / "gone.py", ["redis.ping"])  # unreadable: collected, pytest decides
