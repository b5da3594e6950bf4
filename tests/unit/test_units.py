"""sergas.units: one rule for bare numbers, suffixes that must fit, formatting that reads back."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sergas.units import Unit, UnitError, format_duration, format_quantity, format_size, parse_quantity

FAST = settings(max_examples=200, deadline=None, database=None)  # writes nothing to the checkout


@FAST
@given(st.integers(min_value=60, max_value=10**9))
def test_whole_seconds_from_a_minute_up_read_back_exactly(seconds: int) -> None:
    assert parse_quantity(format_duration(seconds), Unit.SECONDS) == seconds


@FAST
@given(st.floats(min_value=60, max_value=1e9))
def test_durations_from_a_minute_up_read_back_as_whole_seconds(seconds: float) -> None:
    assert parse_quantity(format_duration(seconds), Unit.SECONDS) == round(seconds)


@FAST
@given(st.floats(min_value=1e-6, max_value=60, exclude_max=True))
def test_durations_below_a_minute_read_back_closely(seconds: float) -> None:
    read = parse_quantity(format_duration(seconds), Unit.SECONDS)
    assert math.isclose(read, seconds, rel_tol=0.01, abs_tol=0.05 + 1e-9)


@FAST
@given(st.integers(min_value=0, max_value=2**60))
def test_sizes_read_back_within_five_percent(size: int) -> None:
    assert math.isclose(parse_quantity(format_size(size), Unit.BYTES), size, rel_tol=0.05)


@FAST
@given(st.just(0.0) | st.floats(min_value=1e-4, max_value=9999))
def test_percentages_read_back_to_four_significant_digits(value: float) -> None:
    written = format_quantity(value, Unit.PERCENT)
    assert written.endswith("%")
    assert parse_quantity(written, Unit.PERCENT) == float(f"{value:.4g}")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10 * 86400 + 12 * 3600 + 30 * 60 + 15, "10d12h30m15s"),
        (7 * 60 + 12, "7m12s"),
        (86400 + 1, "1d1s"),
        (3600, "1h"),
        (60, "1m"),
        (4.5, "4.5s"),
        (1, "1s"),
        (0.5, "500ms"),
        (0.008, "8ms"),
        (0, "0ms"),
        (-90, "-1m30s"),
    ],
)
def test_format_duration_writes_every_part(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (512 * 1024**2, "512.0 MiB"),
        (5 * 1024**5, "5120.0 TiB"),
    ],
)
def test_format_size_in_powers_of_1024(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (92.0, Unit.PERCENT, "92%"),
        (12.3456, "%", "12.35%"),
        (3.2 * 1024**3, Unit.BYTES, "3.2 GiB"),
        (432, Unit.SECONDS, "7m12s"),
        (0.5, Unit.PER_SECOND, "0.5/s"),
        (184, Unit.COUNT, "184"),
        (1.25, Unit.COUNT, "1.25"),
        (3.0, Unit.COUNT, "3"),
        (math.inf, Unit.SECONDS, "inf"),
    ],
)
def test_format_quantity(value: float, unit: Unit | str, text: str) -> None:
    assert format_quantity(value, unit) == text


@pytest.mark.parametrize(
    ("written", "unit", "value"),
    [
        (80, Unit.PERCENT, 80.0),
        (80, Unit.SECONDS, 80.0),
        (80, Unit.BYTES, 80.0),
        (2.5, Unit.PER_SECOND, 2.5),
        ("80", Unit.COUNT, 80.0),
        ("80%", Unit.PERCENT, 80.0),
        (" 30 s ", Unit.SECONDS, 30.0),
        ("250ms", Unit.SECONDS, 0.25),
        ("5m", Unit.SECONDS, 300.0),
        ("5min", Unit.SECONDS, 300.0),
        ("1h30m", Unit.SECONDS, 5400.0),
        ("1d12h", Unit.SECONDS, 129600.0),
        ("7d", Unit.SECONDS, 604800.0),
        ("2w", Unit.SECONDS, 1209600.0),
        ("512MB", Unit.BYTES, 512 * 1024**2),
        ("512 MiB", Unit.BYTES, 512 * 1024**2),
        ("10GiB", Unit.BYTES, 10 * 1024**3),
        ("1.5kB", Unit.BYTES, 1536.0),
        ("300/min", Unit.PER_SECOND, 5.0),
        ("3600/h", Unit.PER_SECOND, 1.0),
        ("5/s", Unit.PER_SECOND, 5.0),
        ("-3", Unit.COUNT, -3.0),
    ],
)
def test_parse_quantity(written: str | float, unit: Unit, value: float) -> None:
    assert parse_quantity(written, unit) == value


@pytest.mark.parametrize(
    ("written", "unit", "message"),
    [
        ("5m", Unit.PERCENT, """'5m' is a duration, but a percentage is expected (examples: 80 or "80%")"""),
        (
            "80%",
            Unit.SECONDS,
            """'80%' is a percentage, but a duration is expected (examples: "30s", "5m", "24h", "7d")""",
        ),
        ("512MB", Unit.SECONDS, "'512MB' is a size, but a duration is expected"),
        ("5/s", Unit.BYTES, "'5/s' is a rate, but a size is expected"),
        ("80%", Unit.COUNT, "'80%' is a percentage, but a plain number is expected (examples: 10)"),
        (True, Unit.PERCENT, """True is not a percentage (examples: 80 or "80%")"""),
        (False, Unit.SECONDS, "False is not a duration"),
        ("abc", Unit.COUNT, "not a quantity: 'abc' (examples: 10)"),
        ("", Unit.SECONDS, "not a quantity: ''"),
        ("5x", Unit.COUNT, "unknown unit 'x' in '5x' (durations: s m h d w; sizes: kB MB GB TB; rates: /s /min)"),
    ],
)
def test_quantities_that_do_not_fit_are_refused(written: str | bool, unit: Unit, message: str) -> None:
    with pytest.raises(UnitError) as raised:
        parse_quantity(written, unit)
    assert str(raised.value).startswith(message)


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize(
    ("unit", "kind", "value"),
    [
        (Unit.COUNT, "a plain number", ""),
        (Unit.PERCENT, "a percentage", "%"),
        (Unit.SECONDS, "a duration", "s"),
        (Unit.BYTES, "a size", "bytes"),
        (Unit.PER_SECOND, "a rate", "/s"),
    ],
)
def test_unit_kind_and_value(unit: Unit, kind: str, value: str) -> None:
    assert (unit.kind, unit.value, Unit(value)) == (kind, value, unit)


@pytest.mark.parametrize("rate", [1500.0, 12_345.0])
def test_rates_of_thousands_are_written_as_people_read_them(rate: float) -> None:
    # "A measured value as a person reads it": 12345 requests a second is not "1.23e+04/s",
    # which parse_quantity cannot read back either.
    written = format_quantity(rate, Unit.PER_SECOND)
    assert "e+" not in written
    assert math.isclose(parse_quantity(written, Unit.PER_SECOND), rate, rel_tol=0.01)
