"""`anomaly` with its defaults on shapes real operational series have and the generated benchmark lacked:
hourly points whose newest hour is part of the fit, a near-constant count whose MAD is 0, a flow that holds
still to a fraction of a percent. The data is generated (look-alikes of the real series in
bench/anomaly_eval.py, which are not shipped)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ops.detectors import DetectorContext, TargetPool
from ops.detectors.anomaly import AnomalyCheck, AnomalyDetector
from ops.detectors.series import Series
from ops.model import CheckStatus

pytestmark = pytest.mark.no_ops_db

HOUR = 3600.0
DAY = 86400.0
START = datetime(2022, 3, 20, tzinfo=UTC).timestamp()  # years in the past, like a replayed archive


def check() -> AnomalyCheck:
    config = AnomalyDetector.model_validate({"name": "flow", "kind": "anomaly", "target": "t", "query": "q"})
    return AnomalyCheck(config, DetectorContext(TargetPool({})))


def failing_times(ts: np.ndarray, values: np.ndarray, first: float, every: float) -> list[float]:
    detector, series = check(), {"": Series("", ts, values)}
    out = []
    t = first
    while t <= ts[-1]:
        (r,) = detector.evaluate(series, datetime.fromtimestamp(t, UTC))
        if r.status is CheckStatus.fail:
            out.append(t)
        t += every
    return out


def water_flow() -> tuple[np.ndarray, np.ndarray]:
    """Hourly flow through a pipe, 102.3 ± 0.2 l/s, that fell to the pump's floor (24 l/s) for 12 hours on
    day 4 and falls again for 8 hours on day 12."""
    rng = np.random.default_rng(4)
    ts = START + HOUR * np.arange(16 * 24)
    values = np.round(102.3 + rng.normal(0, 0.2, ts.size), 2)
    values[4 * 24 + 9 : 4 * 24 + 21] = 24.26
    values[12 * 24 + 7 : 12 * 24 + 15] = 24.26
    return ts, values


def test_an_hourly_drop_like_a_past_one_fires_within_the_hour_and_only_around_it() -> None:
    ts, values = water_flow()
    drop = ts[12 * 24 + 7]
    fired = failing_times(ts, values, START + 8 * DAY, HOUR)
    assert fired and fired[0] == drop  # the first hour of the drop, although the fit already holds it
    # the drop, then (the recent level having followed it down) the recovery, for at most `adapt` (12 h)
    assert all(drop <= t < drop + 8 * HOUR + 12 * HOUR for t in fired)


def test_a_flow_that_holds_still_does_not_page_for_a_fraction_of_a_percent() -> None:
    ts, values = water_flow()
    values = values.copy()
    values[14 * 24 : 14 * 24 + 3] = 101.4  # 0.9 % below normal for three hours: noise to an operator
    fired = failing_times(ts, values, START + 13 * DAY, HOUR)
    assert fired == []


def test_a_count_that_is_nearly_always_zero_pages_for_a_stuck_queue_not_for_a_one() -> None:
    rng = np.random.default_rng(9)
    ts = START + 300.0 * np.arange(int(12 * DAY / 300))
    values = (rng.random(ts.size) < 0.03).astype(float)  # MAD 0: almost every point is 0
    values[-200] = 2.0
    stuck = ts.size - 60
    values[stuck : stuck + 12] = 40.0
    fired = failing_times(ts, values, ts[-400], 300.0)
    assert fired and fired[0] == ts[stuck]
    assert all(ts[stuck] <= t < ts[stuck] + 12 * 300 for t in fired)
