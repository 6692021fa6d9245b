"""Generated operational series with known anomalies, for the anomaly detector's tests and benchmark.

`generate(shape, seed)` gives a `Generated`: timestamps (Unix seconds), values, and the labelled anomalies
(start, end, what). Shapes are the normal life of a series — `seasonal` (hourly orders: day and week
cycles, multiplicative, Poisson-like noise, slow growth), `noisy`, `spiky` (normal spikes in ~1 % of the
points), `trending`, `steps` (occasional level changes that are normal) — and `anomalies` lists what is
injected on top: `spike`, `dip`, `shift` (persistent level shift), `drift` (a ramp over hours), `variance`
(the noise quadruples for hours), `gap` (no points for hours; not an anomaly, nothing should fire).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HOUR = 3600.0
DAY = 86400.0
START = 1_767_225_600.0  # 2026-01-01 00:00 UTC, a Thursday


@dataclass
class Generated:
    ts: np.ndarray
    values: np.ndarray
    labels: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, what)


def _daily(ts: np.ndarray) -> np.ndarray:
    hour = (ts % DAY) / HOUR
    return 0.55 + 0.45 * np.sin((hour - 9) / 24 * 2 * np.pi) + 0.25 * np.exp(-(((hour - 20) / 1.5) ** 2))


def _weekly(ts: np.ndarray) -> np.ndarray:
    weekday = ((ts // DAY).astype(np.int64) + 3) % 7
    return np.where(weekday >= 5, 0.7, 1.0) + np.where(weekday == 4, 0.15, 0.0)


def generate(
    shape: str,
    seed: int,
    *,
    days: int = 42,
    step: float = HOUR,
    anomalies: tuple[str, ...] = (),
    start: float = START,
) -> Generated:
    rng = np.random.default_rng(seed)
    ts = start + np.arange(int(days * DAY / step)) * step
    t_days = (ts - start) / DAY
    sigma = 1.0
    if shape == "seasonal":
        mean = 1000 * _daily(ts) * _weekly(ts) * (1 + 0.004 * t_days)
        values = rng.normal(mean, np.sqrt(mean) * 1.5)
        sigma_at = np.sqrt(mean) * 1.5
    elif shape == "noisy":
        values = rng.normal(200, 40, ts.size)
        sigma_at = np.full(ts.size, 40.0)
    elif shape == "spiky":
        values = rng.normal(50, 5, ts.size)
        spikes = rng.random(ts.size) < 0.01
        values[spikes] += rng.uniform(15, 40, spikes.sum())
        sigma_at = np.full(ts.size, 5.0)
    elif shape == "trending":
        mean = 500 + 20 * t_days + 60 * np.sin((ts % DAY) / DAY * 2 * np.pi)
        values = rng.normal(mean, 10)
        sigma_at = np.full(ts.size, 10.0)
    elif shape == "steps":
        level = 100 + 30 * np.cumsum(np.where(rng.random(ts.size) < step / (7 * DAY), rng.choice([-1, 1]), 0))
        values = rng.normal(level, 6)
        sigma_at = np.full(ts.size, 6.0)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    out = Generated(ts, values)
    keep = np.ones(ts.size, dtype=bool)
    # Anomalies in the last three weeks, a few days apart, each after enough history to judge.
    at = start + (days - 20) * DAY + 19 * HOUR
    for what in anomalies:
        i = int(np.searchsorted(ts, at))
        s = float(sigma_at[i]) * sigma
        if what == "spike":
            j = i + 1
            values[i:j] += 12 * s
            out.labels.append((ts[i], ts[i] + step, what))
        elif what == "dip":
            j = int(np.searchsorted(ts, at + 3 * HOUR))
            if shape == "seasonal":
                values[i:j] *= 0.4  # orders fall by 60 %
            else:
                values[i:j] -= 8 * s
            out.labels.append((ts[i], ts[j - 1] + step, what))
        elif what == "shift":
            values[i:] += 8 * s
            out.labels.append((ts[i], ts[i] + 6 * HOUR, what))
        elif what == "drift":
            j = int(np.searchsorted(ts, at + 8 * HOUR))
            ramp = np.linspace(0, 10 * s, j - i)
            values[i:j] += ramp
            k = int(np.searchsorted(ts, at + 12 * HOUR))
            values[j:k] += 10 * s
            out.labels.append((ts[i], ts[k - 1] + step, what))
        elif what == "variance":
            j = int(np.searchsorted(ts, at + 6 * HOUR))
            values[i:j] += rng.normal(0, 5 * s, j - i)
            out.labels.append((ts[i], ts[j - 1] + step, what))
        elif what == "gap":
            j = int(np.searchsorted(ts, at + 3 * HOUR))
            keep[i:j] = False
        else:
            raise ValueError(f"unknown anomaly {what!r}")
        at += 3 * DAY + 5 * HOUR
    out.ts, out.values = ts[keep], values[keep]
    return out


def episodes(times: list[float], failing: list[bool]) -> list[tuple[float, float]]:
    """(first failing time, first passing time after it) of each run of failures."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    for t, bad in zip(times, failing, strict=True):
        if bad and start is None:
            start = t
        elif not bad and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, times[-1]))
    return out


def score(
    found: list[tuple[float, float]], labels: list[tuple[float, float, str]], grace: float = 2 * HOUR
) -> tuple[int, int]:
    """(labelled anomalies caught, false alarms): an episode is a catch when it starts inside a label's span
    (plus `grace`), else a false alarm."""
    caught = {i for i, (s, e, _) in enumerate(labels) for a, _ in found if s <= a <= e + grace}
    false = sum(1 for a, _ in found if not any(s <= a <= e + grace for s, e, _ in labels))
    return len(caught), false
