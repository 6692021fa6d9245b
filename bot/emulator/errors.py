"""The error the emulator's Bot API methods raise: answered as Telegram answers, `{"ok": false, …}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters
