"""Which chats a new alert goes to. Today: every chat in ALERT_CHAT_IDS."""

from __future__ import annotations

from ops.model import CheckResult
from ops.settings import Settings


class Router:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def chats_for(self, result: CheckResult) -> list[int]:
        return list(dict.fromkeys(self.settings.alert_chat_ids))
