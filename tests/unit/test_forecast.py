"""sergas.forecast: when a growing measurement reaches its thresholds (least squares, 30 days)."""

from __future__ import annotations

import datetime as dt

import pytest

from sergas.forecast import Forecast, Reach, fit, forecast, forecast_rows, is_capacity
from sergas.history import Point, Series
from sergas.status import Status
from sergas.units import Unit
from tests.unit.builders import T0, measurement


def series(
    values: list[float],
    *,
    every: dt.timedelta = dt.timedelta(days=1),
    check: str = "host.disk_space",
    name: str = "blocks",
    unit: Unit = Unit.PERCENT,
    warning: float | None = 80,
    critical: float | None = 90,
    below: bool = False,
) -> Series:
    """A series of daily values from T0, against warning 80 and critical 90 unless told."""
    last = measurement(name, values[-1], unit, warning=warning, critical=critical, below=below)
    points = [Point(T0 + n * every, v, Status.OK, f"run{n}") for n, v in enumerate(values)]
    return Series(check, "localhost", last, points)


def at(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def test_known_slope_reaches_on_the_day() -> None:
    found = forecast(series([40 + 2 * n for n in range(11)]), now=at(10))
    assert found.slope_per_day == pytest.approx(2)
    # 60% on day 10, 2%/day: 80% on day 20, 90% on day 25.
    assert found.warning == Reach("warning", 80, at(20).date())
    assert found.critical == Reach("critical", 90, at(25).date())


def test_noise_around_the_slope_is_fitted() -> None:
    noise = [0.5, -0.5, 0.3, -0.3, 0.0, 0.2, -0.2, 0.4, -0.4, 0.1, -0.1]
    found = forecast(series([40 + 2 * n + e for n, e in enumerate(noise)]), now=at(10))
    assert found.slope_per_day == pytest.approx(2, abs=0.1)
    assert found.warning.date is not None and abs((found.warning.date - at(20).date()).days) <= 1


def test_only_the_last_30_days_count() -> None:
    """Grew 5%/day two months ago; 1%/day over the last 30 days, to 60% on day 65: 80% on day 85."""
    days = [*range(10), *range(35, 66)]
    values = [5.0 * n for n in range(10)] + [30.0 + (n - 35) for n in range(35, 66)]
    steady = series(values)
    steady.points[:] = [Point(at(n), v, Status.OK, f"run{n}") for n, v in zip(days, values, strict=True)]
    found = forecast(steady, now=at(65))
    assert found.slope_per_day == pytest.approx(1)
    assert found.warning.date == at(85).date()


@pytest.mark.parametrize(
    ("values", "thresholds", "warning", "critical"),
    [
        pytest.param([50.0] * 10, (80, 90), "flat", "flat", id="flat"),
        pytest.param([60 - n for n in range(10)], (80, 90), "shrinking", "shrinking", id="shrinking"),
        pytest.param([78 + n for n in range(10)], (80, 90), "already past", "2024-05-13", id="past-warning"),
        pytest.param([40 + n for n in range(10)], (None, None), "no threshold", "no threshold"),
        pytest.param([40.0, 50.0], (80, 90), "too little history", "too little history", id="half-a-day"),
        pytest.param([40 + 0.002 * n for n in range(10)], (80, 90), "flat", "flat", id="noise"),
        pytest.param([40 + 0.01 * n for n in range(10)], (80, 90), "not within 10 years", "not within 10 years"),
    ],
)
def test_no_date_says_why(
    values: list[float], thresholds: tuple[float | None, float | None], warning: str, critical: str
) -> None:
    every = dt.timedelta(hours=12) if len(values) == 2 else dt.timedelta(days=1)
    found = forecast(series(values, every=every, warning=thresholds[0], critical=thresholds[1]), now=at(10))
    assert (found.warning.text, found.critical.text) == (warning, critical)


def test_thresholds_below_are_reached_falling() -> None:
    # Available memory falling 1%/day from 30%: warning <= 10% in 20 days, critical <= 5% in 25.
    found = forecast(series([39 - n for n in range(10)], warning=10, critical=5, below=True), now=at(9))
    assert (found.warning.date, found.critical.date) == (at(29).date(), at(34).date())
    rising = forecast(series([30 + n for n in range(10)], warning=10, critical=5, below=True), now=at(9))
    assert rising.warning.reason == "rising"


def test_fit_needs_a_day() -> None:
    points = series([1, 2, 3], every=dt.timedelta(hours=1)).points
    assert fit(points) is None
    assert fit(series([1, 3]).points) == pytest.approx((2, 3))


def test_capacity_measurements() -> None:
    assert is_capacity(series([1], check="postgres.database_size", name="size"))
    assert is_capacity(series([1], check="backups.integrity", name="size"))
    assert not is_capacity(series([1], check="backups.integrity", name="shrink"))
    assert not is_capacity(series([1], check="host.memory", name="swap"))


def test_rows_in_the_measurement_unit() -> None:
    gib = 2**30
    size = series([gib * (1 + n / 8) for n in range(9)], check="postgres.database_size", name="size", unit=Unit.BYTES)
    size.last = size.last.model_copy(update={"warning": 4 * gib, "critical": None})
    young = Forecast(series([50]), None, Reach("warning", 80, None, "too little history"), Reach("critical", None))
    assert forecast_rows([forecast(size, now=at(8)), young]) == [
        ("postgres.database_size", "size", "localhost", "2.0 GiB", "+128.0 MiB", "4.0 GiB: 2024-05-25", "no threshold"),
        ("host.disk_space", "blocks", "localhost", "50%", "-", "80%: too little history", ""),
    ]
