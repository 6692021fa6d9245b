"""The emulator's chat transcript (`opsbot emulator`, the demo) shows link buttons (url, web_app) as links
and numbers only the buttons that can be pressed; a message with a link button is not a 500."""

from __future__ import annotations

import io
import json

import aiohttp

from bot.emulator import BotApiEmulator
from bot.emulator.transcript import Transcript

TOKEN = "123:transcript"


async def test_a_message_with_link_buttons_is_printed_and_accepted() -> None:
    emulator = BotApiEmulator()
    await emulator.start()
    try:
        emulator.add_chat(-1001, "supergroup")
        out = io.StringIO()
        transcript = Transcript(emulator, {-1001: "#ops"}, out)
        markup = {
            "inline_keyboard": [
                [{"text": "✅ Ack", "callback_data": "a:1"}],
                [{"text": "🖥 Console", "url": "https://t.me/opsbot?startapp=console"}],
            ]
        }
        async with aiohttp.ClientSession() as http:
            url = f"{emulator.url}/bot{TOKEN}/sendMessage"
            form = {"chat_id": "-1001", "text": "health", "reply_markup": json.dumps(markup)}
            async with http.post(url, data=form) as resp:
                assert resp.status == 200, await resp.text()
        printed = out.getvalue()
        assert "[1 ✅ Ack]" in printed and "[🖥 Console ↗ https://t.me/opsbot?startapp=console]" in printed
        assert list(transcript.buttons) == [1]
    finally:
        await emulator.stop()
