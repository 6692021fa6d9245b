"""`python -m bench.anomaly_generated [STEP_SECONDS]`: `kind: anomaly` with its defaults over 45 generated
series (five shapes — seasonal, noisy, spiky, trending, steps — three seeds each, with no anomaly, with a
spike, a dip and a level shift, or with a drift, a change of variance and a gap), 42 days each, evaluated at
every point after the first week (hourly by default). Prints each series' catches and false alarms and the
total: the figure the README quotes. Not part of the test suite (about a minute)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from bench.series import HOUR, Generated, episodes, generate, score
from ops.detectors import TargetPool
from ops.detectors.anomaly import AnomalyCheck, AnomalyDetector
from ops.detectors.base import DetectorContext
from ops.detectors.series import Series

SHAPES = ("seasonal", "noisy", "spiky", "trending", "steps")
KINDS = ((), ("spike", "dip", "shift"), ("drift", "variance", "gap"))
DAYS = 42
LEARNING = 7 * 86400.0  # the first week is spent learning (no data)


def replay(series: Generated, every: float) -> list[tuple[float, float]]:
    """The failing episodes of a default anomaly detector evaluated at every `every` after the first week."""
    config = AnomalyDetector(name="x", kind="anomaly", target="t", query="q")
    check = AnomalyCheck(config, DetectorContext(TargetPool({})))
    data = {"": Series("", series.ts, series.values)}
    times, failing = [], []
    at = series.ts[0] + LEARNING
    while at <= series.ts[-1]:
        [result] = check.evaluate(data, datetime.fromtimestamp(at, UTC))
        times.append(at)
        failing.append(result.status.value == "fail")
        at += every
    return episodes(times, failing)


def main() -> None:
    step = float(sys.argv[1]) if len(sys.argv) > 1 else HOUR
    caught = labelled = false = 0
    for shape in SHAPES:
        for seed in range(3):
            for kinds in KINDS:
                began = time.perf_counter()
                series = generate(shape, seed, step=step, days=DAYS, anomalies=kinds)
                c, f = score(replay(series, step), series.labels)
                caught, labelled, false = caught + c, labelled + len(series.labels), false + f
                took = time.perf_counter() - began
                name = ",".join(kinds) or "-"
                print(f"{shape:9} {seed} {name:20} caught {c}/{len(series.labels)} false {f} {took:.1f}s")
    months = len(SHAPES) * 3 * len(KINDS) * (DAYS - 7) / 30
    print(f"total: caught {caught}/{labelled}, {false} false alarms, {false / months:.2f} per series per month")


if __name__ == "__main__":
    main()
