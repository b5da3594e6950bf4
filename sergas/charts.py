"""Small line charts as inline SVG (hand-drawn: no script, no dependency): over time, with
threshold rules, axes labelled in the measurement's unit; and sparklines."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from sergas.units import Unit, format_quantity

TimePoint = tuple[dt.datetime, float]


@dataclass(frozen=True)
class Line:
    name: str
    points: Sequence[TimePoint]
    colour: str


@dataclass(frozen=True)
class Rule:
    """A horizontal line at a threshold."""

    name: str
    value: float
    colour: str


def _span(lo: float, hi: float) -> tuple[float, float]:
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1.0):
        return lo - 1, hi + 1
    return lo, hi


def _nice(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(f * power for f in (1, 2, 2.5, 5, 10) if f * power >= value * (1 - 1e-9))


def _path(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def chart(
    lines: Sequence[Line],
    unit: Unit,
    rules: Sequence[Rule] = (),
    *,
    title: str = "",
    width: int = 560,
    height: int = 190,
) -> str:
    """A line chart over time from zero (or the lowest value) up to the highest value or rule."""
    left, right, top, bottom = 70, 14, 22, 24
    times = [t.timestamp() for line in lines for t, _ in line.points]
    values = [v for line in lines for _, v in line.points] + [r.value for r in rules]
    t0, t1 = _span(min(times, default=0.0), max(times, default=0.0))
    v0, v1 = _span(min([0.0, *values]), max(values, default=1.0))
    if v0 == 0 and v1 > 0:  # from zero to a round top, halfway between: 0, 50%, 100%; 0, 1 GiB, 2 GiB
        base = 1024.0 ** math.floor(math.log(v1 / 2, 1024)) if unit is Unit.BYTES and v1 > 2048 else 1.0
        v1 = 2 * _nice(v1 / 2 / base) * base
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: dt.datetime) -> float:
        return left + (t.timestamp() - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return top + (v1 - v) / (v1 - v0) * plot_h

    out = [
        f"<svg class='chart' viewBox='0 0 {width} {height}' width='{width}' height='{height}' role='img' "
        f"xmlns='http://www.w3.org/2000/svg' font-family='sans-serif' font-size='11'><title>{escape(title)}</title>",
        f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='#fafafa' stroke='#ccc'/>",
    ]
    for v in (v0, (v0 + v1) / 2, v1):
        out.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#e4e4e4'/>")
        out.append(
            f"<text x='{left - 4}' y='{y(v) + 4:.1f}' text-anchor='end'>{escape(format_quantity(v, unit))}</text>"
        )
    for anchor, t in (("start", t0), ("middle", (t0 + t1) / 2), ("end", t1)):
        at = dt.datetime.fromtimestamp(t, dt.UTC)
        pos = left + (t - t0) / (t1 - t0) * plot_w
        out.append(f"<text x='{pos:.1f}' y='{height - 6}' text-anchor='{anchor}'>{at:%Y-%m-%d %H:%M}</text>")
    lowest = min(rules, key=lambda r: r.value, default=None)
    for rule in rules:  # each label above its line, the lowest rule's below it: two never overlap
        label_y = y(rule.value) + (12 if rule is lowest and len(rules) > 1 else -3)
        out.append(
            f"<line class='rule {escape(rule.name)}' x1='{left}' x2='{left + plot_w}' y1='{y(rule.value):.1f}' "
            f"y2='{y(rule.value):.1f}' stroke='{rule.colour}' stroke-dasharray='6 3' stroke-width='1.5'/>"
            f"<text x='{left + plot_w - 4}' y='{label_y:.1f}' text-anchor='end' fill='{rule.colour}'>"
            f"{escape(rule.name)} {escape(format_quantity(rule.value, unit))}</text>"
        )
    for line in lines:
        xy = [(x(t), y(v)) for t, v in line.points]
        out.append(f"<polyline fill='none' stroke='{line.colour}' stroke-width='2' points='{_path(xy)}'/>")
        if len(xy) <= 60:
            out += [f"<circle cx='{a:.1f}' cy='{b:.1f}' r='2.5' fill='{line.colour}'/>" for a, b in xy]
    legend = left
    for line in lines if len(lines) > 1 else ():
        out.append(f"<text x='{legend}' y='14' fill='{line.colour}'>\u25a0 {escape(line.name)}</text>")
        legend += 14 + 7 * len(line.name)
    out.append("</svg>")
    return "".join(out)


def sparkline(values: Sequence[float], *, width: int = 140, height: int = 24) -> str:
    """A small line of `values` from their lowest to their highest, in a row of a table."""
    lo, hi = _span(min(values, default=0.0), max(values, default=0.0))
    step = (width - 4) / max(len(values) - 1, 1)
    xy = [(2 + i * step, 2 + (hi - v) / (hi - lo) * (height - 4)) for i, v in enumerate(values)]
    return (
        f"<svg class='spark' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"xmlns='http://www.w3.org/2000/svg'><polyline fill='none' stroke='#36c' stroke-width='1.5' "
        f"points='{_path(xy)}'/><circle cx='{xy[-1][0]:.1f}' cy='{xy[-1][1]:.1f}' r='2' fill='#36c'/></svg>"
        if xy
        else ""
    )
