"""Webhook mode: Telegram POSTs each update to WEBHOOK_URL; every replica serves that path.

A request without the right `X-Telegram-Bot-Api-Secret-Token` is refused (401) before anything is
parsed. The update is handled before the answer goes back, so a replica that dies mid-update leaves it
unanswered and Telegram delivers it again (to whichever replica the load balancer picks).
"""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from ops.redaction import same_secret

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def add_webhook_route(app: web.Application, path: str, secret: str, dp: Dispatcher, bot: Bot) -> None:
    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not same_secret(given, secret):
            log.warning("webhook: refused a request from %s with a wrong or missing secret", request.remote)
            return web.json_response({"error": "wrong or missing secret token"}, status=401)
        try:
            update = Update.model_validate(await request.json(), context={"bot": bot})
        except (ValueError, ValidationError, UnicodeDecodeError):
            return web.json_response({"error": "the body is not a Telegram update"}, status=400)
        await dp.feed_update(bot, update)
        return web.json_response({"ok": True})

    app.router.add_post(path, handle)
