"""Escalation policies as steps taken, kept in `ops_escalation_steps` (one row per alert and step).

A policy is a list of steps (`OpsConfig.escalation_steps`), numbered from 1. For a firing, unacknowledged,
unmuted alert, the steps are taken in order, each once, when the alert has been firing for its `after`;
only the latest step taken repeats (every `repeat`), until the alert is acknowledged or the next step is
taken. What was taken is read from the table inside the engine's transaction, and each step is written
there in the same transaction as its messages, so a restart repeats none and skips none: steps that
fell due while the process was down are all taken at the next tick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.config.models import EscalationStep
from ops.storage.tables import escalation_steps


@dataclass(frozen=True)
class Taken:
    """A step taken for an alert: when first and last, how many times; `detail` as stored (who was paged,
    and whether the page failed)."""

    step: int
    first_at: datetime
    last_at: datetime
    times: int
    target: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def paged(self) -> int | None:
        """The person this step paged in private (None: not a page, or one that failed)."""
        user = self.detail.get("user")
        return int(user) if isinstance(user, int) and not self.detail.get("failed") else None


class EscalateOutcome(str, Enum):
    done = "done"
    not_found = "not_found"
    not_firing = "not_firing"  # acknowledged or resolved: the policy has stopped
    not_paged = "not_paged"  # the presser was not paged for it and is no admin
    no_step = "no_step"  # the policy has no step left


@dataclass(frozen=True)
class EscalateResult:
    outcome: EscalateOutcome
    step: int | None = None
    target: str = ""  # the step's `notify`
    who: str = ""  # whom it reached (a person's name, or a count of chats)


async def steps_taken(conn: AsyncConnection, alert_ids: list[int]) -> dict[int, dict[int, Taken]]:
    """The steps taken of each alert, by step number."""
    found: dict[int, dict[int, Taken]] = {}
    if not alert_ids:
        return found
    t = escalation_steps.c
    for start in range(0, len(alert_ids), 500):
        rows = await conn.execute(select(escalation_steps).where(t.alert_id.in_(alert_ids[start : start + 500])))
        for r in rows:
            found.setdefault(int(r.alert_id), {})[int(r.step)] = Taken(
                int(r.step), r.first_at, r.last_at, int(r.times), r.target, _detail(r.detail)
            )
    return found


def _detail(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def due(steps: list[EscalationStep], taken: dict[int, Taken], age: float, now: datetime) -> list[tuple[int, bool]]:
    """The steps to take now, as (number, again): the untaken ones whose `after` has passed, in order
    (a step waits for the one before it); when none is new, the latest step again if its `repeat` has
    passed since it was last taken."""
    latest = max(taken, default=0)
    new = []
    for number in range(latest + 1, len(steps) + 1):
        if age < steps[number - 1].after:
            break
        new.append((number, False))
    if new or latest == 0 or latest > len(steps):
        return new
    repeat = steps[latest - 1].repeat
    if repeat is not None and (now - taken[latest].last_at).total_seconds() >= repeat:
        return [(latest, True)]
    return []


async def record_step(
    conn: AsyncConnection,
    alert_id: int,
    number: int,
    now: datetime,
    target: str,
    detail: dict[str, Any],
    *,
    again: bool,
) -> None:
    """The step taken (first time), or taken once more (`again`)."""
    t = escalation_steps.c
    text = json.dumps(detail)
    if again:
        await conn.execute(
            update(escalation_steps)
            .where(t.alert_id == alert_id, t.step == number)
            .values(last_at=now, times=t.times + 1, target=target[:80], detail=text)
        )
        return
    await conn.execute(
        insert(escalation_steps).values(
            alert_id=alert_id, step=number, first_at=now, last_at=now, times=1, target=target[:80], detail=text
        )
    )
