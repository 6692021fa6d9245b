"""Storm grouping: which queued notifications of a chat go out together as one digest. Pure: the caller
reads the rows and the clock; nothing here does I/O or knows Telegram.

- Group-wait (`held`): fresh notifications arriving together wait until `wait_sec` after the first for
  the rest of the storm, so it goes as one digest rather than a few cards and then a digest. A lone
  alert does not wait: it goes at once.
- A storm (`storm`): more than `threshold` of a chat's queued notifications, from its head on, taken in
  queue order up to the first one a digest cannot stand for, so per-chat order holds. Card edits
  (`refresh`) are not messages: they keep their place and go on their own. One digest covers at most
  `max_entries` distinct incidents; the rest go in the next one.
- `threshold` 0 turns grouping off (and with it group-wait).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ops.notify.types import CardRefresh
from ops.storage.outbox import OutboxRow

DIGEST_SCAN = 500  # queued rows of one chat looked at when forming a digest


@dataclass(frozen=True)
class Grouping:
    threshold: int  # GROUP_THRESHOLD: more queued notifications than this make a storm; 0 = never
    wait_sec: float  # GROUP_WAIT_SEC: how long fresh notifications wait for the rest of a storm
    max_entries: int  # distinct incidents in one digest


def digestible(row: OutboxRow) -> bool:
    """A notification about one incident that a digest line can stand for (and not half sent already):
    its type says whether it may join a digest (`ops.notify.types`)."""
    return row.digestible


def held(head: OutboxRow, now: datetime, rules: Grouping) -> bool:
    """Whether a chat's head (with `head.queued` rows waiting behind it, itself included) waits for the
    rest of a storm instead of going now."""
    return (
        rules.threshold > 0
        and rules.wait_sec > 0
        and head.queued > 1
        and head.attempts == 0
        and head.digest_id is None
        and digestible(head)
        and head.created_at + timedelta(seconds=rules.wait_sec) > now
    )


def may_lead_storm(head: OutboxRow, rules: Grouping) -> bool:
    """Whether a digest could start at this head (if not, the chat's other rows need not be read)."""
    return rules.threshold > 0 and digestible(head)


def storm(head: OutboxRow, queued: Iterable[OutboxRow], rules: Grouping) -> list[OutboxRow] | None:
    """The rows one digest stands for, from the chat's `queued` rows (in queue order, `head` first), or
    None when they are not a storm and `head` goes on its own."""
    if not may_lead_storm(head, rules):
        return None
    taken: list[OutboxRow] = []
    incidents: set[int] = set()
    for row in queued:
        if row.kind == CardRefresh.kind:
            continue
        if not digestible(row):
            break
        assert row.incident_id is not None
        if row.incident_id not in incidents:
            if len(incidents) >= rules.max_entries:
                break
            incidents.add(row.incident_id)
        taken.append(row)
    return taken if len(taken) > rules.threshold else None
