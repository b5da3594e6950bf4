"""Quantities with their unit known: parsing what the environment file writes, formatting what
a report shows.

Every measurement has one canonical unit (`Unit`): a count or ratio (no unit), a percentage, a
duration in seconds, a size in bytes, or a rate per second. The one rule for a bare number: it
is in the unit's base, so `80` is 80 % for a percentage, 80 seconds for a duration, 80 bytes
for a size and 80 per second for a rate. A quantity written with a suffix must fit the unit:
`"5m"` is a duration and is refused where a percentage is expected (`UnitError`). Sizes count
in powers of 1024, as check_postgres does (`"512MB"` is 512 MiB). Formatting never cuts text.
"""

from __future__ import annotations

import enum
import math
import re


class Unit(enum.StrEnum):
    """The canonical units of measurements (their value as summary.json writes it)."""

    COUNT = ""
    PERCENT = "%"
    SECONDS = "s"
    BYTES = "bytes"
    PER_SECOND = "/s"

    @property
    def kind(self) -> str:
        """What a quantity of this unit is, in words: `a percentage`, `a duration`."""
        return _KINDS[self]


_KINDS = {
    Unit.COUNT: "a plain number",
    Unit.PERCENT: "a percentage",
    Unit.SECONDS: "a duration",
    Unit.BYTES: "a size",
    Unit.PER_SECOND: "a rate",
}

_DURATIONS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZES = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_RATES = {"/s": 1.0, "/min": 1 / 60, "/h": 1 / 3600}
_NUMBER = r"-?\d+(?:\.\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([a-zA-Z%/]*)\s*$")
_COMPOUND_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?(?:ms|min|[smhdw]))+\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|min|[smhdw])")
EXAMPLES = {
    Unit.COUNT: "10",
    Unit.PERCENT: '80 or "80%"',
    Unit.SECONDS: '"30s", "5m", "24h", "7d"',
    Unit.BYTES: '"512MB", "10GiB"',
    Unit.PER_SECOND: '"5/s", "300/min"',
}


class UnitError(ValueError):
    """A quantity that cannot be read, or does not fit the unit expected; the message says which."""


def parse_quantity(written: str | float, unit: Unit) -> float:
    """The value of `written` in `unit`'s base (seconds, bytes, percent, per second, a count)."""
    if isinstance(written, bool):
        raise UnitError(f"{written!r} is not {unit.kind} (examples: {EXAMPLES[unit]})")
    if isinstance(written, int | float):
        return float(written)
    if unit is Unit.SECONDS and _COMPOUND_DURATION.match(written):
        return sum(float(n) * _DURATIONS[u] for n, u in _DURATION_PART.findall(written))
    match = _QUANTITY.match(written)
    if not match:
        raise UnitError(f"not a quantity: {written!r} (examples: {EXAMPLES[unit]})")
    number, suffix = float(match.group(1)), match.group(2)
    found, factor = _suffix_unit(suffix, written)
    if found is not None and found is not unit:
        raise UnitError(f"{written!r} is {found.kind}, but {unit.kind} is expected (examples: {EXAMPLES[unit]})")
    return number * factor


def _suffix_unit(suffix: str, written: str) -> tuple[Unit | None, float]:
    """The unit a suffix names and its factor to that unit's base; (None, 1) for no suffix."""
    if suffix == "":
        return None, 1.0
    if suffix == "%":
        return Unit.PERCENT, 1.0
    if suffix in _DURATIONS:
        return Unit.SECONDS, _DURATIONS[suffix]
    if suffix.lower() in _RATES:
        return Unit.PER_SECOND, _RATES[suffix.lower()]
    size = suffix.lower().removesuffix("ib").removesuffix("b") or "b"
    if size in _SIZES:
        return Unit.BYTES, float(_SIZES[size])
    raise UnitError(
        f"unknown unit {suffix!r} in {written!r} (durations: s m h d w; sizes: kB MB GB TB; rates: /s /min)"
    )


def format_quantity(value: float, unit: Unit | str) -> str:
    """A measured value as a person reads it: `92%`, `3.2 GiB`, `7m12s`, `0.5/s`, `184`."""
    unit = Unit(unit)
    if not math.isfinite(value):
        return str(value)
    if unit is Unit.PERCENT:
        return f"{_digits(value, 4)}%"
    if unit is Unit.BYTES:
        return format_size(value)
    if unit is Unit.SECONDS:
        return format_duration(value)
    if unit is Unit.PER_SECOND:
        return f"{_digits(value, 3)}/s"
    return f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _digits(value: float, significant: int) -> str:
    """`value` to `significant` digits, but never in exponent form for large values (12345, not 1.23e+04)."""
    return f"{value:.0f}" if abs(value) >= 10 ** (significant - 1) else f"{value:.{significant}g}"


def format_size(value: float) -> str:
    """`512 B`, `1.5 KiB`, `3.2 GiB` (powers of 1024)."""
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or suffix == "TiB":
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    raise AssertionError("unreachable: TiB ends the loop")


def format_duration(seconds: float) -> str:
    """`8ms`, `4.5s`, `7m12s`, `10d12h30m15s`: every non-zero part from a minute up, whole seconds."""
    if seconds < 0:
        return f"-{format_duration(-seconds)}"
    if seconds < 0.01:
        return f"{seconds * 1000:.2g}ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{n}{u}" for n, u in parts if n)
