"""`forecast`: fails when a series' trend will cross `alert_if` within `within`.

The trend is a Theil–Sen line (the median of the slopes between pairs of hourly medians, deterministic
and blind to a few outliers) over the points of `history` (default 7 days), refitted once per hour of
`until` on the points up to the last whole hour. The projection starts from where the series is now: the
median of the newest points brought to `until` along that slope, so a clean-up that drops the value
resolves the alert at the next check rather than when the line catches up.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Literal

import numpy as np
from pydantic import field_validator

from ops.config.fields import Duration, TrendAlertIf
from ops.detectors.base import DetectorContext, result
from ops.detectors.baseline import DAY, HOUR, hourly_medians, theil_sen
from ops.detectors.series import Series, SeriesCheck, SeriesSource
from ops.model import CheckResult, CheckStatus
from ops.timeutil import format_duration, format_size

LEVEL_POINTS = 6  # the newest points whose median (along the slope) is "now"
MIN_POINTS = 6
FIT_CACHE = 256


class ForecastDetector(SeriesSource):
    """Fails when the trend of the series reaches `alert_if` within `within`."""

    kind: Literal["forecast"] = "forecast"
    alert_if: TrendAlertIf
    within: Duration
    history: Duration = 7 * DAY
    unit: str = ""  # "bytes" shows sizes (as does a threshold given as a size, like 50GB)

    @field_validator("within")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value < 60:
            raise ValueError("must be at least 1m")
        return value

    @field_validator("history")
    @classmethod
    def _history(cls, value: float) -> float:
        if value < 2 * HOUR:
            raise ValueError("must be at least 2h")
        return value

    @property
    def sized(self) -> bool:
        return self.unit == "bytes" or re.search(r"[A-Za-z]", self.alert_if.text) is not None


class ForecastCheck(SeriesCheck[ForecastDetector]):
    def __init__(self, config: ForecastDetector, ctx: DetectorContext) -> None:
        super().__init__(config, ctx)
        self._slopes: OrderedDict[tuple[str, float], tuple[np.ndarray, np.ndarray, float]] = OrderedDict()

    def evaluate_one(self, series: Series, now: float) -> CheckResult:
        cfg = self.config
        cond = cfg.alert_if
        where = f"{cfg.name}[{series.key}]" if series.key else cfg.name
        ts, values = series.window(now - cfg.history, now)
        end = np.floor(now / HOUR) * HOUR
        lo = int(np.searchsorted(series.ts, end + HOUR - cfg.history, side="right"))
        hi = int(np.searchsorted(series.ts, end, side="right"))
        needed = min(DAY, cfg.history / 4)
        had = float(series.ts[hi - 1] - series.ts[lo]) if hi - lo >= 2 else 0.0
        if hi - lo < MIN_POINTS or had < needed or ts.size == 0:
            return result(
                cfg,
                series.key,
                CheckStatus.no_data,
                f"{where}: learning the trend; needs {_d(needed)} of history, has {_d(had)}",
                threshold=cond.text,
            )
        slope = self._slope(series, end, lo, hi)
        recent_t, recent_v = ts[-LEVEL_POINTS:], values[-LEVEL_POINTS:]
        level = float(np.median(recent_v + slope * (now - recent_t)))
        rising = cond.op in (">", ">=")
        per_day = f"{self._amount(slope * DAY, signed=True)}/day"
        crossed = cond.fails(level)
        toward = slope > 0 if rising else slope < 0
        eta = (cond.threshold - level) / slope if toward and not crossed else None
        value = float(values[-1])
        if crossed:
            side = "above" if rising else "below"
            message = f"{where}: {self._amount(level)} is already {side} {self._amount(cond.threshold)} ({per_day})"
            status = CheckStatus.fail
        elif eta is not None and eta <= cfg.within:
            message = f"{where}: reaches {self._amount(cond.threshold)} in ~{_d(eta)} at {per_day}"
            status = CheckStatus.fail
        else:
            later = f"reaches {self._amount(cond.threshold)} in ~{_d(eta)}" if eta is not None else "not heading there"
            message = (
                f"{where}: {self._amount(level)} at {per_day}; {later} "
                f"(alert if within {_d(cfg.within)} of {cond.text})"
            )
            status = CheckStatus.ok
        unit = "bytes" if cfg.sized else (cfg.unit or None)
        return result(cfg, series.key, status, message, value=value, threshold=cond.text, unit=unit)

    def _slope(self, series: Series, end: float, lo: int, hi: int) -> float:
        """Units per second through the hourly medians of [lo, hi), cached for these arrays and hour."""
        key = (series.key, end)
        cached = self._slopes.get(key)
        if cached is not None and cached[0] is series.ts and cached[1] is series.values:
            self._slopes.move_to_end(key)
            return cached[2]
        hours, medians, _ = hourly_medians(series.ts[lo:hi], series.values[lo:hi])
        if hours.size < 3:  # coarser than hourly: the points themselves
            hours, medians = series.ts[lo:hi], series.values[lo:hi]
        slope = theil_sen(hours, medians)
        self._slopes[key] = (series.ts, series.values, slope)
        if len(self._slopes) > FIT_CACHE:
            self._slopes.popitem(last=False)
        return slope

    def _amount(self, value: float, signed: bool = False) -> str:
        sign = "+" if signed and value >= 0 else ("-" if value < 0 else "")
        magnitude = abs(value)
        if self.config.sized:
            return sign + format_size(magnitude)
        unit = f" {self.config.unit}" if self.config.unit else ""
        text = f"{magnitude:,.0f}" if magnitude >= 100 else f"{magnitude:,.3g}"
        return sign + text + unit


def _d(seconds: float) -> str:
    return format_duration(seconds)
