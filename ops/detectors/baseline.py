"""The `anomaly` kind's model of normal: trend, seasonal profile, recent level and spread, fitted robustly.

`fit(ts, values, end, season, adapt)` learns from the history up to `end` (an hour boundary):

1. **Trend**: a Theil–Sen line through the hourly medians (the median of pairwise slopes: a few bad hours
   or a past incident do not tilt it).
2. **Season** (`auto`, `none`, `1d`, `1w`): the median of the detrended values per hour of day (`1d`) or
   hour of week (`1w`, Monday 00:00 UTC first). `auto` fits each candidate on all but the last week (the
   last day when there is less than two weeks) and keeps the one that predicts that held-out stretch best,
   a season only when it cuts the typical error by more than 10 % (20 % for the week).
3. **Level**: the median of the last `adapt` hours' residuals. A shift that lasts longer than about half of
   `adapt` becomes the new normal: the alert it raised resolves instead of firing for ever.
4. **Spread**: 1.4826 × the median absolute residual (a standard deviation for normal noise, blind to
   outliers) per hour of day, shrunk towards the overall one; widened when the last day was noisier.
5. **Calibration**: the thresholds start at the sensitivity's (in spreads) and are raised until the history
   itself would have crossed them in at most a couple of separate episodes per four weeks: a series whose
   normal life has spikes learns that they are normal, while one past incident does not blunt detection.

A point is judged by its score z = (value − expected) / spread: the newest point alone against the
`point` threshold (a spike), or the newest three all beyond the `run` threshold on the same side (a dip
or shift that is smaller but sustained).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
MAD_TO_SIGMA = 1.4826
RUN = 3  # points in a sustained run
SHRINK = 12.0  # an hour of day's spread counts as much as this many points of the overall spread
EPISODES_PER_4W = 2.0  # separate excursions of the history a threshold may leave above it
CALIBRATION_MARGIN = 1.1
# a season is kept when its held-out error is below this fraction of the simpler model's: a week has four
# samples per slot in four weeks of history, so it must earn its place more clearly than a day
SEASON_GAIN = {"1d": 0.9, "1w": 0.8}
RELATIVE_FLOOR = 0.005  # the spread is at least this fraction of the series' typical magnitude
WIDEN_FROM = 1.25  # the last day's spread, relative to the history's, from which the band widens

# (point, run) thresholds in spreads
SENSITIVITY: dict[str, tuple[float, float]] = {"low": (7.0, 4.5), "medium": (5.5, 3.2), "high": (4.5, 2.6)}

# The least history (seconds) each season needs before the detector judges at all.
MIN_HISTORY: dict[str, float] = {"none": DAY, "1d": 3 * DAY, "auto": WEEK, "1w": 2 * WEEK}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_of_day(ts: np.ndarray) -> np.ndarray:
    return (np.floor(ts / HOUR).astype(np.int64)) % 24


def hour_of_week(ts: np.ndarray) -> np.ndarray:
    days = np.floor(ts / DAY).astype(np.int64)
    return ((days + 3) % 7) * 24 + hour_of_day(ts)  # 1970-01-01 was a Thursday


def slots(ts: np.ndarray, season: str) -> np.ndarray:
    if season == "1w":
        return hour_of_week(ts)
    if season == "1d":
        return hour_of_day(ts)
    return np.zeros(ts.shape, dtype=np.int64)


SLOTS = {"none": 1, "1d": 24, "1w": 168}


def slot_label(ts: float, season: str) -> str:
    """`Fri 20:00` (weekly), `20:00` (daily), or "" — the slot a point's expectation is for (UTC)."""
    if season == "none":
        return ""
    hour = int(ts // HOUR) % 24
    if season == "1d":
        return f"{hour:02d}:00"
    return f"{WEEKDAYS[(int(ts // DAY) + 3) % 7]} {hour:02d}:00"


def group_median(groups: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(median per group 0..size-1, count per group); NaN where a group is empty."""
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    counts = np.bincount(g, minlength=size)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    med = np.full(size, np.nan)
    present = counts > 0
    lo = starts[present] + (counts[present] - 1) // 2
    hi = starts[present] + counts[present] // 2
    med[present] = (v[lo] + v[hi]) / 2
    return med, counts


def hourly_medians(ts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hour start in seconds, median value, index of each point's hour) for the hours that have points
    (`ts` ascending). Points a few per hour are sorted in a small matrix rather than one long sort."""
    hours = np.floor(ts / HOUR).astype(np.int64)
    n = hours.size
    starts = np.concatenate(([0], np.flatnonzero(np.diff(hours)) + 1))
    counts = np.diff(np.append(starts, n))
    inverse = np.repeat(np.arange(starts.size), counts)
    top = int(counts.max()) if n else 0
    if top <= 1:
        return hours[starts].astype(np.float64) * HOUR, values[starts].astype(np.float64), inverse
    if top <= 256:
        matrix = np.full((starts.size, top), np.inf)
        matrix[inverse, np.arange(n) - starts[inverse]] = values
        matrix.sort(axis=1)
        rows = np.arange(starts.size)
        med = (matrix[rows, (counts - 1) // 2] + matrix[rows, counts // 2]) / 2
    else:
        med, _ = group_median(inverse, values, starts.size)
    return hours[starts].astype(np.float64) * HOUR, med, inverse


_PAIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def theil_sen(x: np.ndarray, y: np.ndarray, most: int = 160) -> float:
    """The median of pairwise slopes over at most `most` evenly spread points (deterministic)."""
    if x.size < 2:
        return 0.0
    if x.size > most:
        pick = np.linspace(0, x.size - 1, most).round().astype(np.int64)
        x, y = x[pick], y[pick]
    n = x.size
    if n not in _PAIRS:
        _PAIRS[n] = np.triu_indices(n, 1)
    i, j = _PAIRS[n]
    dx = x[j] - x[i]
    ok = dx > 0
    if not np.any(ok):
        return 0.0
    return float(np.median((y[j][ok] - y[i][ok]) / dx[ok]))


def rolling_median_before(values: np.ndarray, width: int) -> np.ndarray:
    """For each i, the median of values[i-width:i] (fewer at the start; 0 for the first)."""
    n = values.size
    out = np.zeros(n)
    if n <= 1:
        return out
    if n > width:
        windows = np.lib.stride_tricks.sliding_window_view(values, width)  # windows[k] = values[k:k+width]
        out[width:] = np.median(windows[: n - width], axis=1)
    for i in range(1, min(width, n) + 1):
        if i < n:
            out[i] = np.median(values[:i])
    return out


def episode_threshold(score: np.ndarray, allowed: int, floor: float) -> float:
    """The least threshold (≥ `floor`) that `score` exceeds in at most `allowed` separate episodes (runs of
    consecutive points)."""

    def episodes(threshold: float) -> int:  # an excursion still going on at the end is not a past one
        above = score > threshold
        if not above.size:
            return 0
        return int(above[0]) + int(np.count_nonzero(above[1:] & ~above[:-1])) - int(above[-1])

    if episodes(floor) <= allowed:
        return floor
    candidates = np.unique(score[score > floor])[::-1]  # descending; the first is exceeded by nothing
    lo, hi = 0, candidates.size - 1  # episodes(candidates[lo]) <= allowed < episodes(floor)
    if episodes(candidates[hi]) <= allowed:
        return float(candidates[hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if episodes(candidates[mid]) <= allowed:
            lo = mid
        else:
            hi = mid
    return float(candidates[lo])


def run_score(z: np.ndarray) -> np.ndarray:
    """For each point from the RUN-th on, the least of the last RUN scores (all of them beyond it)."""
    if z.size < RUN:
        return np.empty(0)
    return np.lib.stride_tricks.sliding_window_view(z, RUN).min(axis=1)


@dataclass(frozen=True)
class Fit:
    """Normal, as learned from one history: expected(t) = intercept + slope·(t − end) + profile[slot(t)]."""

    end: float
    season: str
    step: float  # typical seconds between points
    slope: float
    intercept: float  # the level at `end`, recent level included
    profile: np.ndarray
    spread: np.ndarray  # by hour of day
    widen: float  # ≥ 1: the last day was noisier than the history
    up: tuple[float, float]  # (point, run) thresholds for values above normal
    down: tuple[float, float]
    nonnegative: bool  # every value of the history was ≥ 0: a band is not shown below 0

    def expected(self, ts: np.ndarray) -> np.ndarray:
        return self.intercept + self.slope * (ts - self.end) + self.profile[slots(ts, self.season)]

    def scale(self, ts: np.ndarray) -> np.ndarray:
        return self.spread[hour_of_day(ts)] * self.widen


def _spread_of(residuals: np.ndarray, fallback_scale: float) -> float:
    s = MAD_TO_SIGMA * float(np.median(np.abs(residuals))) if residuals.size else 0.0
    if s <= 0 and residuals.size:
        s = 1.2533 * float(np.mean(np.abs(residuals)))  # mostly-constant series: the mean deviation
    return s if s > 0 else fallback_scale


def resolution_floor(values: np.ndarray) -> float:
    """The least spread a series' own resolution allows: one step between its distinct values (counts move
    by 1, a CPU percentage by its rounding), and RELATIVE_FLOOR of its typical magnitude (a flow that holds
    at 102.3 ± 0.2 does not page for 101.5)."""
    distinct = np.unique(values)
    steps = np.diff(distinct)
    quantum = float(np.min(steps)) if steps.size else 0.0
    return max(quantum, RELATIVE_FLOOR * float(np.median(np.abs(values))))


def choose_season(ts: np.ndarray, r: np.ndarray, span: float) -> str:
    """The season that best predicts the held-out end of the history (see the module's doc)."""
    candidates = ["none"]
    if span >= 2.5 * DAY:
        candidates.append("1d")
    if span >= 13 * DAY:
        candidates.append("1w")
    if len(candidates) == 1:
        return "none"
    holdout = WEEK if "1w" in candidates else DAY
    cut = int(np.searchsorted(ts, ts[-1] - holdout, side="right"))
    train_t, train_r, test_t, test_r = ts[:cut], r[:cut], ts[cut:], r[cut:]
    if train_t.size == 0 or test_t.size == 0:
        return "none"
    errors = {}
    for season in candidates:
        prof, _ = group_median(slots(train_t, season), train_r, SLOTS[season])
        predicted = prof[slots(test_t, season)]
        predicted = np.where(np.isnan(predicted), np.median(train_r), predicted)
        errors[season] = float(np.median(np.abs(test_r - predicted)))
    best = "none"
    for season in candidates[1:]:
        if errors[season] < SEASON_GAIN[season] * errors[best]:
            best = season
    return best


def fit(ts: np.ndarray, values: np.ndarray, end: float, season: str, adapt: float, sensitivity: str = "medium") -> Fit:
    """Learn normal from the points (ts ascending, ts <= end). Trend, season and level are learned from the
    hourly medians (cheap, and what a season is made of); the spread and the calibration from the points."""
    span = float(ts[-1] - ts[0])
    step = float(np.median(np.diff(ts))) if ts.size > 1 else HOUR
    hour_ts, hour_med, hour_of_point = hourly_medians(ts, values)
    slope = theil_sen(hour_ts, hour_med)
    r_hour = hour_med - slope * (hour_ts - end)
    chosen = choose_season(hour_ts, r_hour, span) if season == "auto" else season
    prof, _ = group_median(slots(hour_ts, chosen), r_hour, SLOTS[chosen])
    if chosen == "1w":  # an hour of the week never seen: the hour of day's, else the overall
        daily, _ = group_median(hour_of_day(hour_ts), r_hour, 24)
        prof = np.where(np.isnan(prof), np.tile(daily, 7), prof)
    prof = np.where(np.isnan(prof), float(np.median(r_hour)), prof)
    e_hour = r_hour - prof[slots(hour_ts, chosen)]
    prof = prof + float(np.median(e_hour))
    e_hour = e_hour - float(np.median(e_hour))

    # The recent level: the median residual of the last `adapt` hours (of those with points).
    width = max(1, round(adapt / HOUR))
    level = float(np.median(e_hour[-width:]))
    before = rolling_median_before(e_hour, width)  # each hour's level as it was known before that hour
    expected = slope * (ts - end) + prof[slots(ts, chosen)] + before[hour_of_point]
    adjusted = values - expected

    scale_floor = max(1e-9, 1e-6 * float(np.max(np.abs(values))))
    overall = _spread_of(adjusted, scale_floor)
    hod = hour_of_day(ts)
    order = np.argsort(hod, kind="stable")
    per_hour = np.bincount(hod, minlength=24)
    bounds = np.concatenate(([0], np.cumsum(per_hour)))
    deviations = np.abs(adjusted[order])
    spread = np.full(24, overall)
    for h in np.flatnonzero(per_hour):
        mine = deviations[bounds[h] : bounds[h + 1]]
        s_h = MAD_TO_SIGMA * float(np.median(mine))
        if s_h <= 0:
            s_h = 1.2533 * float(np.mean(mine)) or overall
        spread[h] = np.sqrt((mine.size * s_h**2 + SHRINK * overall**2) / (mine.size + SHRINK))
    spread = np.maximum(spread, max(0.25 * overall, resolution_floor(values)))
    z = adjusted / spread[hod]

    recent = z[min(int(np.searchsorted(ts, end - DAY, side="right")), max(0, z.size - 48)) :]
    noisier = MAD_TO_SIGMA * float(np.median(np.abs(recent))) if recent.size else 1.0
    widen = noisier if noisier > WIDEN_FROM else 1.0

    point_k, run_k = SENSITIVITY[sensitivity]
    allowed = max(1, round(EPISODES_PER_4W * span / (4 * WEEK)))
    thresholds = []
    for signed in (z, -z):
        point = CALIBRATION_MARGIN * episode_threshold(signed, allowed, point_k / CALIBRATION_MARGIN)
        run = CALIBRATION_MARGIN * episode_threshold(run_score(signed), allowed, run_k / CALIBRATION_MARGIN)
        thresholds.append((point, min(run, point)))
    return Fit(
        end=end,
        season=chosen,
        step=step,
        slope=slope,
        intercept=level,
        profile=prof,
        spread=spread,
        widen=widen,
        up=thresholds[0],
        down=thresholds[1],
        nonnegative=bool(np.min(values) >= 0),
    )


@dataclass(frozen=True)
class Judgement:
    """The newest point against the band: which side it left (if any), and the band shown to people."""

    value: float
    ts: float
    expected: float
    low: float
    high: float
    side: str | None  # "up" | "down" | None
    score: float


def judge(fit: Fit, ts: np.ndarray, values: np.ndarray, direction: str) -> Judgement:
    """The newest points (at least one, at most RUN) against `fit`."""
    expected = fit.expected(ts)
    scale = fit.scale(ts)
    z = (values - expected) / scale
    last_exp, last_scale = float(expected[-1]), float(scale[-1])
    for test in (0, 1):  # 0: the newest point alone; 1: the last RUN points together
        if test == 1 and z.size < RUN:
            break
        for side, sign, thresholds in (("up", 1.0, fit.up), ("down", -1.0, fit.down)):
            if direction not in ("both", side):
                continue
            s = sign * z
            score = float(s[-1]) if test == 0 else float(np.min(s[-RUN:]))
            if score > thresholds[test]:
                low = last_exp - fit.down[test] * last_scale
                high = last_exp + fit.up[test] * last_scale
                if fit.nonnegative:
                    low = max(0.0, low)
                return Judgement(float(values[-1]), float(ts[-1]), last_exp, low, high, side, float(z[-1]))
    low = last_exp - fit.down[0] * last_scale
    high = last_exp + fit.up[0] * last_scale
    if fit.nonnegative:
        low = max(0.0, low)
    return Judgement(float(values[-1]), float(ts[-1]), last_exp, low, high, None, float(z[-1]))
