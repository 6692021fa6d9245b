"""`retries: N` is N retries after the first attempt, and AUTO_REMEDIATION_MAX_RETRIES likewise: a failing
action runs 1 + N times, `retries: 0` once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import make_settings
from ops.config import ConfigError, parse_config
from ops.runtime import OpsCore
from ops.storage.tables import remediation_history, remediation_runs

PY = sys.executable


def failing(name: str, log: Path, retries: str = "") -> str:
    """A shell action that notes each run in `log`, then fails."""
    script = f"open({str(log)!r}, 'a').write('ran\\n'); raise SystemExit(1)"
    return f"  - {{name: {name}, kind: shell, {retries} command: [{PY}, -c, {json.dumps(script)}]}}\n"


async def run_to_the_end(tmp_path: Path, action: str, retries: str, **settings: object) -> tuple[int, list, list]:
    log = tmp_path / f"{action}.log"
    config = parse_config("remediations:\n" + failing(action, log, retries), env={})
    core = OpsCore.build(make_settings(tmp_path / "ops.db", **settings), config)
    await core.migrate()
    core.remediation.backoff_base = 0.01
    try:
        remediation = config.remediation(action)
        assert remediation is not None
        started = await core.remediation.request(remediation, None, "manual", None)
        assert started.status == "started"
        await core.remediation.wait_idle()
        async with core.db.connect() as conn:
            history = [tuple(r) for r in await conn.execute(select(remediation_history.c.attempt))]
            runs = [
                tuple(r) for r in await conn.execute(select(remediation_runs.c.status, remediation_runs.c.attempts))
            ]
    finally:
        await core.close()
    return len(log.read_text().splitlines()), history, runs


async def test_retries_0_is_one_attempt(tmp_path: Path) -> None:
    ran, history, runs = await run_to_the_end(tmp_path, "once", "retries: 0,")
    assert (ran, history, runs) == (1, [(1,)], [("failed", 1)])


async def test_retries_2_is_three_attempts_at_most(tmp_path: Path) -> None:
    ran, history, runs = await run_to_the_end(tmp_path, "thrice", "retries: 2,")
    assert (ran, history, runs) == (3, [(1,), (2,), (3,)], [("failed", 3)])


async def test_without_retries_the_setting_counts_retries_too(tmp_path: Path) -> None:
    ran, _, runs = await run_to_the_end(tmp_path, "default", "", auto_remediation_max_retries=1)
    assert (ran, runs) == (2, [("failed", 2)])
    (tmp_path / "none").mkdir()
    ran, _, runs = await run_to_the_end(tmp_path / "none", "none", "", auto_remediation_max_retries=0)
    assert (ran, runs) == (1, [("failed", 1)])


@pytest.mark.no_ops_db
def test_retries_below_0_or_above_10_are_refused() -> None:
    for value, says in (("-1", "greater than or equal to 0"), ("11", "less than or equal to 10")):
        with pytest.raises(ConfigError) as info:
            parse_config(
                f"remediations:\n  - {{name: fix, kind: shell, retries: {value}, command: [/bin/true]}}\n", env={}
            )
        assert info.value.errors == [f"opsbot.yaml: remediations[0] (fix).retries: Input should be {says}"]
