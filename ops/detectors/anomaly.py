"""`anomaly`: the newest points of a time series against a band learned from its own history.

The model (trend, season, recent level, spread, calibration) is `ops.detectors.baseline`. It is refitted
at most once per hour of `until`, on the points up to the last whole hour; between refits each evaluation
only scores its newest points against that fit, which is what lets `opsbot backtest` replay months at
every 5 minutes. The fits are kept on the check (`AnomalyCheck._fits`, a small LRU keyed by series key and
fit hour, and valid only for the very arrays they were fitted on): a fit is a pure function of the points
in its window, so a cached fit and a fresh one are the same, live and in a replay.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import model_validator

from ops.config.fields import Duration
from ops.detectors.base import DetectorContext, result
from ops.detectors.baseline import HOUR, MIN_HISTORY, Fit, fit, judge, slot_label
from ops.detectors.series import Series, SeriesCheck, SeriesSource
from ops.model import CheckResult, CheckStatus
from ops.timeutil import format_duration

FIT_CACHE = 256  # fits kept per check: a few per key (the current hour's, the one before)


Where = tuple[np.ndarray, int, int]  # an array's owner, where the view starts in it (bytes), its length


class AnomalyDetector(SeriesSource):
    """The newest points of a series against the band its history sets (season, level, spread)."""

    kind: Literal["anomaly"] = "anomaly"
    history: Duration = 28 * 86400.0
    season: Literal["auto", "none", "1d", "1w"] = "auto"
    sensitivity: Literal["low", "medium", "high"] = "medium"
    direction: Literal["both", "up", "down"] = "both"
    adapt: Duration = 12 * HOUR  # a shift that lasts about half of this becomes the new normal
    unit: str = ""  # shown after values: "orders/h"

    @model_validator(mode="after")
    def _enough_history(self) -> AnomalyDetector:
        least = MIN_HISTORY[self.season]
        if self.history < least:
            raise ValueError(
                f"history {format_duration(self.history)} is too short for season {self.season}: "
                f"use at least {format_duration(least)}"
            )
        if not HOUR <= self.adapt <= self.history / 2:
            raise ValueError(f"adapt must be between 1h and half the history ({format_duration(self.history / 2)})")
        return self


class AnomalyCheck(SeriesCheck[AnomalyDetector]):
    def __init__(self, config: AnomalyDetector, ctx: DetectorContext) -> None:
        super().__init__(config, ctx)
        self._fits: OrderedDict[tuple[str, float], tuple[tuple[Where, Where], Fit]] = OrderedDict()

    def evaluate_one(self, series: Series, now: float) -> CheckResult:
        cfg = self.config
        where = f"{cfg.name}[{series.key}]" if series.key else cfg.name
        ts, values = series.window(now - cfg.history, now)
        if ts.size == 0:
            return result(cfg, series.key, CheckStatus.no_data, f"{where}: no points in the last {_d(cfg.history)}")
        # The fit's window: the whole hours up to the last hour boundary, inside (now − history, now].
        end = np.floor(now / HOUR) * HOUR
        start = end + HOUR - cfg.history
        lo = int(np.searchsorted(series.ts, start, side="right"))
        hi = int(np.searchsorted(series.ts, end, side="right"))
        needed = MIN_HISTORY[cfg.season] - 2 * HOUR
        had = float(series.ts[hi - 1] - series.ts[lo]) if hi - lo >= 2 else 0.0
        if hi - lo < 24 or had < needed:
            return result(
                cfg,
                series.key,
                CheckStatus.no_data,
                f"{where}: learning; needs {_d(needed + 2 * HOUR)} of history, has {_d(had)}",
            )
        model = self._fit(series, end, lo, hi)
        stale = max(3 * model.step, HOUR)
        if now - ts[-1] > stale:
            return result(
                cfg, series.key, CheckStatus.no_data, f"{where}: no points in the last {_d(now - float(ts[-1]))}"
            )
        verdict = judge(model, ts[-3:], values[-3:], cfg.direction)
        band = f"{_n(verdict.low)}–{_n(verdict.high)}"
        if cfg.direction == "up" and verdict.side is None:
            band = f"at most {_n(verdict.high)}"
        elif cfg.direction == "down" and verdict.side is None:
            band = f"at least {_n(verdict.low)}"
        unit = f" {cfg.unit}" if cfg.unit else ""
        slot = slot_label(verdict.ts, model.season)
        message = f"{where}: {_n(verdict.value)}{unit}, expected {band}" + (f" for {slot}" if slot else "")
        status = CheckStatus.fail if verdict.side is not None else CheckStatus.ok
        checked = result(cfg, series.key, status, message, value=verdict.value, threshold=band, unit=cfg.unit or None)
        return replace(checked, expected=(float(verdict.low), float(verdict.high)))  # the band /backtest draws

    def _fit(self, series: Series, end: float, lo: int, hi: int) -> Fit:
        """The fit of the points [lo, hi) of `series` (the window ending at `end`), cached for these very
        points: the same memory of the same arrays (a replay passes views of one fetched series at every
        step; a live check fetches new arrays, so it fits afresh)."""
        key = (series.key, end)
        points = (_where(series.ts[lo:hi]), _where(series.values[lo:hi]))
        cached = self._fits.get(key)
        if cached is not None and _same(cached[0], points):
            self._fits.move_to_end(key)
            return cached[1]
        cfg = self.config
        model = fit(series.ts[lo:hi], series.values[lo:hi], end, cfg.season, cfg.adapt, cfg.sensitivity)
        self._fits[key] = (points, model)
        if len(self._fits) > FIT_CACHE:
            self._fits.popitem(last=False)
        return model


def _same(a: tuple[Where, Where], b: tuple[Where, Where]) -> bool:
    return all(x[0] is y[0] and x[1:] == y[1:] for x, y in zip(a, b, strict=True))


def _where(array: np.ndarray) -> Where:
    """Which memory `array` is: the array that owns it (held, so its identity is not reused), where in it
    the view starts, and how many items it has."""
    owner = array
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    start = array.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    return owner, start, len(array)


def _d(seconds: float) -> str:
    return format_duration(seconds)


def _n(value: float) -> str:
    """A value for people: 1,300 · 12.5 · 0.0421."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    if magnitude == 0:
        return "0"
    return f"{value:.3g}"
