"""The benchmark's settings and its percentile (nearest rank)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.monthly.test_performance import percentile
from sergas.config import AppConfig


def test_benchmark_settings_default_and_bounds() -> None:
    app = AppConfig(url="http://app")
    assert (app.benchmark_paths, app.benchmark_requests) == (["/health"], 20)
    for bad in (0, 101):
        with pytest.raises(ValidationError):
            AppConfig(url="http://app", benchmark_requests=bad)


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(20, 0, -1)]  # 20 samples, unordered
    assert (percentile(samples, 50), percentile(samples, 95), percentile(samples, 100)) == (10.0, 19.0, 20.0)
    assert percentile([0.5], 95) == 0.5
