"""After an action succeeded: run the alert's detector again and say whether the check passes now."""

from __future__ import annotations

from dataclasses import dataclass, field

from ops.model import Incident
from ops.sweeper import DetectorRunner


@dataclass(frozen=True)
class RecheckResult:
    passes: bool  # every result for the alert's key (or, without one, of the run) is ok
    message: str  # the first of those results' message
    fired: list[int] = field(default_factory=list)  # incidents the run fired (automatic remediation's business)


class Recheck:
    def __init__(self, runner: DetectorRunner) -> None:
        self.runner = runner

    async def __call__(self, incident: Incident) -> RecheckResult | None:
        """None when there is nothing to say: the detector is gone, or its run returned no result."""
        detector = self.runner.config.detector(incident.source)
        if detector is None:
            return None
        results, report = await self.runner.run_one(detector)
        mine = [r for r in results if r.key == incident.key] or results
        if not mine:
            return None
        return RecheckResult(all(r.ok for r in mine), mine[0].message, list(report.fired))
