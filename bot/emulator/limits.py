"""Telegram's flood limits, as the emulator enforces them in its `telegram_limits` mode.

Past its rates Telegram answers 429 with `retry_after`: about 1 message/s per chat (short bursts of 3
pass), 20 messages/min per group chat, 30 messages/s overall. Counted at arrival, like the real thing.
"""

from __future__ import annotations

import math
from collections import deque

CHAT_RATE = 1.0  # tokens per second per chat
CHAT_BURST = 3.0
GROUP_PER_MINUTE = 20
GLOBAL_PER_SECOND = 30


class FloodLimits:
    def __init__(self) -> None:
        self._buckets: dict[int, tuple[float, float]] = {}  # chat → (tokens, at)
        self._groups: dict[int, deque[float]] = {}
        self._global: deque[float] = deque()
        self.refused = 0  # 429s answered
        self.accepted = 0  # limited calls let through

    def check(self, chat_id: int, now: float) -> int | None:
        """None: the call may go (and is counted); otherwise the retry_after to answer with."""
        waits: list[float] = []
        while self._global and self._global[0] <= now - 1.0:
            self._global.popleft()
        if len(self._global) >= GLOBAL_PER_SECOND:
            waits.append(self._global[0] + 1.0 - now)
        tokens, at = self._buckets.get(chat_id, (CHAT_BURST, now))
        tokens = min(CHAT_BURST, tokens + (now - at) * CHAT_RATE)
        if tokens < 1.0:
            waits.append((1.0 - tokens) / CHAT_RATE)
        group = self._groups.setdefault(chat_id, deque()) if chat_id < 0 else None
        if group is not None:
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) >= GROUP_PER_MINUTE:
                waits.append(group[0] + 60.0 - now)
        if waits:
            self._buckets[chat_id] = (tokens, now)
            self.refused += 1
            return max(1, math.ceil(max(waits)))
        self._buckets[chat_id] = (tokens - 1.0, now)
        self._global.append(now)
        if group is not None:
            group.append(now)
        self.accepted += 1
        return None
