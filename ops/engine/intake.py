"""What the engine accepts from one detector run: storable results, one per key.

A target may return anything: a key repeated over several rows, keys longer than the key columns, NUL
bytes. Keys and messages are made storable (`ops.storage.clean`), and a key that comes back more than
once is one result: the worst of its rows, saying how many rows there were. So one fingerprint is one
incident, and nothing a target returns can fail the write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ops.config.models import DetectorBase
from ops.model import CheckResult, CheckStatus
from ops.storage.clean import clean_text, message_text, shorten, storage_key

ERROR_LIMIT = 2000
_STATUS_RANK = {CheckStatus.ok: 0, CheckStatus.no_data: 1, CheckStatus.error: 2, CheckStatus.fail: 3}


@dataclass(frozen=True)
class Accepted:
    """One detector run as the engine processes it; `index` is its place among the runs it was given."""

    index: int
    detector: DetectorBase
    results: list[CheckResult]


def accept(detector: DetectorBase, results: list[CheckResult]) -> list[CheckResult]:
    """`results` made storable, one per key (the worst row of a repeated key), in first-seen order."""
    return accept_runs([(detector, results)], partial=False)[0].results


def accept_runs(runs: list[tuple[DetectorBase, list[CheckResult]]], *, partial: bool) -> list[Accepted]:
    """Every run's results made storable, one result per fingerprint across all the runs.

    A fingerprint repeated in later runs (Alertmanager sending one alert twice in a notification) joins
    its first run. Without `partial` a run speaks for all of its detector's keys, so two runs of one
    detector are one run."""
    rows: dict[str, list[CheckResult]] = {}  # fingerprint → its results, in arrival order
    plan: list[tuple[int, DetectorBase, list[str]]] = []  # run index, detector, its fingerprints
    whole: dict[str, list[str]] = {}  # detector → the fingerprints of its one run (without `partial`)
    for index, (detector, results) in enumerate(runs):
        if not partial and detector.name in whole:
            mine = whole[detector.name]
        else:
            mine = []
            plan.append((index, detector, mine))
            whole.setdefault(detector.name, mine)
        try:
            cleaned = [_storable(r) for r in results]
        except Exception as exc:  # not a result the engine can read: the detector's error
            cleaned = [processing_error(detector, exc)]
        for clean in cleaned:
            seen = rows.get(clean.fingerprint)
            if seen is None:
                rows[clean.fingerprint] = [clean]
                mine.append(clean.fingerprint)
            else:
                seen.append(clean)
    return [
        Accepted(index, detector, [_one(detector, rows[fp]) for fp in fingerprints])
        for index, detector, fingerprints in plan
        if fingerprints or not runs[index][1]  # a run whose every result joined an earlier run is done
    ]


def _one(detector: DetectorBase, rows: list[CheckResult]) -> CheckResult:
    if len(rows) == 1:
        return rows[0]
    direction = _worse_direction(detector)
    worst = max(rows, key=lambda r: _badness(r, direction))
    return replace(worst, message=f"{worst.message} · {len(rows)} rows for this key, the worst counts")


def _storable(r: CheckResult) -> CheckResult:
    key = storage_key(r.key)
    message = message_text(r.message)
    error = shorten(clean_text(r.error), ERROR_LIMIT) if r.error is not None else None
    threshold = clean_text(r.threshold)[:200] if r.threshold is not None else None
    unit = clean_text(r.unit)[:16] if r.unit is not None else None
    if (key, message, error, threshold, unit) == (r.key, r.message, r.error, r.threshold, r.unit):
        return r
    return replace(r, key=key, message=message, error=error, threshold=threshold, unit=unit)


def _worse_direction(detector: DetectorBase) -> int:
    """+1 when a higher value is worse (`alert_if: "> 90"`), -1 when lower is (`"< 0"`), 0 when neither."""
    op = getattr(getattr(detector, "alert_if", None), "op", "")
    return {">": 1, ">=": 1, "<": -1, "<=": -1}.get(op, 0)


def _badness(r: CheckResult, direction: int) -> tuple[int, int, int, float]:
    """Failing beats passing, then higher severity, then fail > error > no data, then the worse value."""
    failing = not r.ok
    value = r.value if r.value is not None and not math.isnan(r.value) else None
    return (
        int(failing),
        r.severity.rank if failing else 0,
        _STATUS_RANK[r.status],
        direction * value if value is not None and direction else -math.inf,
    )


def processing_error(detector: DetectorBase, exc: BaseException) -> CheckResult:
    """What a detector's results that could not be processed are replaced with: its error, alerted."""
    reason = describe(exc)
    return CheckResult.detector_error(detector.name, f"its results could not be processed ({reason})", error=reason)


def describe(exc: BaseException) -> str:
    """The exception's type and first line (a database's own message, not SQLAlchemy's statement dump)."""
    orig = getattr(exc, "orig", None)
    shown = orig if orig is not None else exc
    lines = str(shown).strip().splitlines()
    return shorten(clean_text(f"{type(shown).__name__}: {lines[0]}" if lines else type(shown).__name__), 300)
