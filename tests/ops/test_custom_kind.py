"""A detector kind and a remediation kind written here, as a plugin author would: loaded from YAML, swept,
fired and remediated exactly like the built-in kinds, with nothing under ops/ naming them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from sqlalchemy import select

from helpers import make_settings
from ops.config import ConfigError, DetectorBase, RemediationBase, detector_kinds, parse_config, remediation_kinds
from ops.config.fields import AlertIf
from ops.detectors import Check
from ops.detectors.base import result
from ops.model import CheckResult, CheckStatus, Incident
from ops.remediation.actions import Action
from ops.runtime import OpsCore
from ops.storage.tables import remediation_history


@pytest.fixture
def queue_kinds() -> Iterator[None]:
    """`queue_depth`: the number in a file, checked with `alert_if`; `drain_queue`: empties that file."""

    class QueueDepthDetector(DetectorBase):
        kind: Literal["queue_depth"] = "queue_depth"
        path: str
        alert_if: AlertIf

    class QueueDepthCheck(Check[QueueDepthDetector]):
        async def check(self) -> list[CheckResult]:
            cfg = self.config
            depth = float(Path(cfg.path).read_text())
            status = CheckStatus.fail if cfg.alert_if.fails(depth) else CheckStatus.ok
            return [result(cfg, "", status, f"{cfg.name}: {depth:g} jobs waiting", value=depth)]

    class DrainQueueRemediation(RemediationBase):
        kind: Literal["drain_queue"] = "drain_queue"
        path: str

    class DrainQueueAction(Action[DrainQueueRemediation]):
        async def run(self, incident: Incident | None) -> str:
            Path(self.config.path).write_text("0")
            return f"drained for {incident.source if incident else 'nobody'}"

    yield
    detector_kinds.unregister("queue_depth")
    remediation_kinds.unregister("drain_queue")


def config_text(queue: Path) -> str:
    return f"""
remediations:
  - {{name: drain, kind: drain_queue, path: "{queue}", auto: true}}
detectors:
  - {{name: jobs, kind: queue_depth, path: "{queue}", alert_if: "> 100", severity: error, remediation: drain}}
"""


async def test_a_kind_defined_in_a_test_is_swept_fired_and_remediated(tmp_path: Path, queue_kinds: None) -> None:
    queue = tmp_path / "queue"
    queue.write_text("250")
    config = parse_config(config_text(queue), env={})
    core = OpsCore.build(make_settings(tmp_path / "ops.db"), config)
    await core.migrate()
    try:
        report = await core.sweeper.sweep()
        assert [(r.detector, r.status, r.message) for r in report.results] == [
            ("jobs", CheckStatus.fail, "jobs: 250 jobs waiting")
        ]
        assert [len(r.fired) for r in report.engine] == [1]  # fired, so `auto: true` runs the action
        await core.remediation.wait_idle()
        assert queue.read_text() == "0"
        async with core.db.connect() as conn:
            rows = await conn.execute(
                select(remediation_history.c.action_name, remediation_history.c.status, remediation_history.c.output)
            )
            assert [tuple(r) for r in rows] == [("drain", "success", "drained for jobs")]
        report = await core.sweeper.sweep()
        assert [(r.status, r.message) for r in report.results] == [(CheckStatus.ok, "jobs: 0 jobs waiting")]
    finally:
        await core.close()


@pytest.mark.no_ops_db
def test_the_kinds_of_a_test_are_listed_and_checked_like_the_built_in_ones(tmp_path: Path, queue_kinds: None) -> None:
    text = config_text(tmp_path / "queue").replace('alert_if: "> 100"', "alert_if: lots") + (
        "  - {name: other, kind: queue_size}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert info.value.errors == [
        'opsbot.yaml: detectors[0] (jobs).alert_if: expected an operator and a number, e.g. "< -10000"',
        "opsbot.yaml: detectors[1] (other).kind: unknown kind 'queue_size' (expected one of sql, freshness, "
        "db_size, http, heartbeat, metrics, prometheus, python, anomaly, forecast, queue_depth)",
    ]


@pytest.mark.no_ops_db
def test_a_kind_is_gone_once_unregistered(tmp_path: Path, queue_kinds: None) -> None:
    parse_config(config_text(tmp_path / "queue"), env={})
    detector_kinds.unregister("queue_depth")
    with pytest.raises(ConfigError) as info:
        parse_config(config_text(tmp_path / "queue"), env={})
    assert info.value.errors == [
        "opsbot.yaml: detectors[0] (jobs).kind: unknown kind 'queue_depth' (expected one of sql, freshness, "
        "db_size, http, heartbeat, metrics, prometheus, python, anomaly, forecast)"
    ]


@pytest.mark.no_ops_db
def test_two_implementations_cannot_claim_one_kind(queue_kinds: None) -> None:
    model = detector_kinds["queue_depth"].model
    with pytest.raises(TypeError, match="detectors kind 'queue_depth' is already"):

        class Impostor(Check[model]):  # type: ignore[valid-type]
            pass

    assert detector_kinds["queue_depth"].implementation.__name__ == "QueueDepthCheck"
