"""Remediation runs as a chat sees them: those for incidents sent to it (admin chats: all)."""

from __future__ import annotations

from ops.remediation.runner import RemediationRunner, RunView
from ops.scoping import Scoping


class RemediationRuns:
    def __init__(self, runner: RemediationRunner, scoping: Scoping) -> None:
        self.runner = runner
        self.scoping = scoping

    async def for_chat(self, chat_id: int, sees_all: bool, limit: int = 10) -> list[RunView]:
        return await self.runner.recent_runs(limit, incidents=None if sees_all else self.scoping.sent_to(chat_id))
