"""Whether Telegram answers, as every Bot API call of this process sees it (an aiogram request middleware).

A network error, a timeout or a 5xx makes the link `unreachable since <the first such failure>`; any answer
from Telegram — an error like 400, 403, 409 or 429 included — makes it `ok` again, and after an outage of
`OUTAGE` seconds or more the `on_back` callbacks run (the outbox sender delivers what waited at once; a
lone 5xx between two answers leaves the sender's own backoff alone). A 401 is `unauthorized`: the token is
wrong or was revoked. `accepted` says whether Telegram has ever taken this process's token: a 401 before
that is a wrong BOT_TOKEN (start-up fails with exit 2), after it a revoked one (logged and retried).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from ops.duties import describe
from ops.timeutil import utcnow

log = logging.getLogger(__name__)

UNREACHABLE = (TelegramNetworkError, TelegramServerError, TimeoutError)
OUTAGE = 5.0  # seconds


class TelegramLink(BaseRequestMiddleware):
    def __init__(self, on_back: list[Callable[[], Any]] | None = None) -> None:
        """`on_back`: told when Telegram answers again after an outage of OUTAGE seconds or more."""
        self.state = "unknown"  # unknown | ok | unreachable | unauthorized
        self.since: datetime | None = None
        self.accepted = False
        self.on_back = list(on_back or [])

    def status(self) -> str:
        """`ok`, or `unreachable since 2026-11-23T12:00:00Z` (what /healthz shows)."""
        if self.state in ("ok", "unknown") or self.since is None:
            return self.state
        return f"{self.state} since {self.since.isoformat(timespec='seconds')}Z"

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Any,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            response = await make_request(bot, method)
        except UNREACHABLE as exc:
            self.failed("unreachable", exc)
            raise
        except TelegramUnauthorizedError as exc:
            self.failed("unauthorized", exc)
            raise
        except TelegramAPIError:
            self.answered()  # Telegram said no to this call: it is there
            raise
        self.answered()
        return response

    def answered(self) -> None:
        self.accepted = True
        if self.state == "ok":
            return
        was, since = self.state, self.since
        self.state, self.since = "ok", None
        if was in ("unreachable", "unauthorized") and since is not None:
            log.info("Telegram answers again (%s since %sZ)", was, since.isoformat(timespec="seconds"))
            if (utcnow() - since).total_seconds() >= OUTAGE:
                for callback in self.on_back:
                    callback()

    def failed(self, state: str, exc: BaseException) -> None:
        if self.state == state:
            return
        self.state, self.since = state, utcnow()
        if state == "unauthorized":
            if self.accepted:  # before, it is a wrong token: the app stops with exit 2 and says so
                log.error("Telegram refuses BOT_TOKEN now (%s): no message goes out until it is fixed", describe(exc))
        else:
            log.warning(
                "Telegram is unreachable (%s): detectors and alerts go on; notifications wait in the outbox",
                describe(exc),
            )
