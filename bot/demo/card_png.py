"""Draws the README's picture: the demo's first alert card, as a PNG.

    python -m bot.demo.card_png docs/alert-card.png

The card is not mocked up: the demo's marketplace workspace is seeded, the real `cash_balance`
detector runs against it, the real engine opens the incident, and `bot/render/texts.alert_card` and
`bot/keyboards.alert_keyboard` make the text and the buttons the bot sends. Only the clock is fixed
(so the picture does not change with the time of day it was drawn). The message is then laid out as a
Telegram message in a small HTML page and screenshotted by headless Chromium (Debian's `chromium` and
`fonts-noto-color-emoji`). Nothing in the tests or the bot needs this module; it exists to redraw the
picture when the card changes.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageChops

from bot.demo.story import ALERTS, ALICE
from bot.demo.workspace import create_workspace
from bot.keyboards import alert_keyboard
from bot.render.texts import alert_card
from ops.config import load_config
from ops.runtime import OpsCore
from ops.settings import Settings

NOW = datetime(2026, 11, 23, 9, 41)  # naive UTC, as opsbot stores times
DETECTOR = "cash_balance"  # the demo's critical alert, the one alice acknowledges
BACKGROUND = (214, 228, 196)  # a plain version of Telegram's default green wallpaper
WIDTH = 520  # CSS pixels; drawn at twice that


async def render_card() -> tuple[str, list[list[str]]]:
    """The card's Telegram HTML and its button labels, row by row, as the demo's first card."""
    with tempfile.TemporaryDirectory(prefix="opsbot-card-") as tmp:
        workspace = await create_workspace(Path(tmp), "marketplace")
        try:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=workspace.database_url,
                alert_chat_ids=[ALERTS],
                admin_user_ids=[ALICE],
                auto_remediation_enabled=False,
            )
            config = load_config(workspace.config, env={**settings.config_env(), **workspace.env})
            detector = config.detector(DETECTOR)
            if detector is None:
                raise SystemExit(f"the marketplace example has no detector {DETECTOR!r}")
            core = OpsCore.build(settings, config, clock=lambda: NOW)
            try:
                await core.migrate()
                _, report = await core.sweeper.run_one(detector)
                if not report.fired:
                    raise SystemExit(f"{DETECTOR} did not fire on the demo's data")
                incident = await core.incidents.get(report.fired[0])
            finally:
                await core.close()
        finally:
            await workspace.close()
    assert incident is not None
    text, _ = alert_card(incident, NOW)
    keyboard = alert_keyboard(incident)
    rows = [[button.text for button in row] for row in keyboard.inline_keyboard] if keyboard else []
    return text, rows


def card_page(text: str, rows: list[list[str]]) -> str:
    """A small page styled like a message from a bot in a Telegram group, with its inline buttons."""
    from html import escape

    buttons = "\n".join(
        '<div class="row">' + "".join(f'<div class="button">{escape(label)}</div>' for label in row) + "</div>"
        for row in rows
    )
    bg = "rgb({}, {}, {})".format(*BACKGROUND)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><style>
  html, body {{ margin: 0; background: {bg}; }}
  body {{ font-family: "Noto Sans", "DejaVu Sans", sans-serif, "Noto Color Emoji"; font-size: 15px;
         color: #000; -webkit-font-smoothing: antialiased; }}
  .chat {{ width: {WIDTH}px; box-sizing: border-box; padding: 0 0 16px 0; }}
  .top {{ background: #fff; padding: 9px 16px; border-bottom: 1px solid #d9d9d9; }}
  .top .name {{ font-weight: 600; font-size: 15px; }}
  .top .who {{ color: #8a8a8a; font-size: 13px; }}
  .line {{ display: flex; align-items: flex-end; gap: 8px; padding: 14px 12px 0 10px; }}
  .avatar {{ width: 34px; height: 34px; border-radius: 50%; flex: none;
            background: linear-gradient(#72d5fd, #2a9ef1); color: #fff; font-weight: 700;
            display: flex; align-items: center; justify-content: center; font-size: 15px; }}
  .bubble {{ flex: 1; min-width: 0; background: #fff; border-radius: 12px 12px 12px 4px; padding: 6px 10px 6px 10px;
            box-shadow: 0 1px 1px rgba(0, 0, 0, .13); }}
  .from {{ color: #3a8fd9; font-weight: 600; font-size: 14px; margin-bottom: 2px; }}
  .text {{ white-space: pre-wrap; line-height: 1.38; overflow-wrap: anywhere; }}
  .text code {{ font-family: "DejaVu Sans Mono", monospace; font-size: 13.5px; color: #c13b3b; }}
  .time {{ text-align: right; color: #a0acb6; font-size: 12px; margin-top: -4px; }}
  .buttons {{ padding: 0 12px 0 52px; }}
  .row {{ display: flex; gap: 4px; margin-top: 4px; }}
  .button {{ flex: 1; background: rgba(74, 104, 60, .42); color: #fff; border-radius: 8px;
            text-align: center; padding: 8px 4px; font-size: 14px; font-weight: 500; white-space: nowrap; }}
</style></head>
<body><div class="chat">
  <div class="top"><div class="name">#ops-alerts</div><div class="who">opsbot, alice, bob</div></div>
  <div class="line">
    <div class="avatar">O</div>
    <div class="bubble">
      <div class="from">opsbot</div>
      <div class="text">{text}</div>
      <div class="time">{NOW:%H:%M}</div>
    </div>
  </div>
  <div class="buttons">
    {buttons}
  </div>
</div></body></html>
"""


def screenshot(page: str, out: Path) -> None:
    """Headless Chromium draws the page at 2× and the empty background below the chat is cut off."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs Chromium: apt-get install -y chromium fonts-noto-color-emoji")
    with tempfile.TemporaryDirectory(prefix="opsbot-card-") as tmp:
        html = Path(tmp) / "card.html"
        html.write_text(page, encoding="utf-8")
        raw = Path(tmp) / "raw.png"
        subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={Path(tmp) / 'profile'}",
                "--force-device-scale-factor=2",
                f"--window-size={WIDTH},1200",
                f"--screenshot={raw}",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        image = Image.open(raw).convert("RGB")
    empty = Image.new("RGB", image.size, BACKGROUND)
    box = ImageChops.difference(image, empty).getbbox()
    if box is None:
        raise SystemExit("Chromium drew an empty page")
    image = image.crop((0, 0, image.width, min(image.height, box[3] + 32)))
    # A palette of 256 colours keeps the file small; the card has few colours besides the emoji.
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.demo.card_png", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the PNG to write, e.g. docs/alert-card.png")
    parser.add_argument("--html", type=Path, help="also write the HTML page that is screenshotted")
    args = parser.parse_args(argv)
    text, rows = asyncio.run(render_card())
    page = card_page(text, rows)
    if args.html:
        args.html.write_text(page, encoding="utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    screenshot(page, args.out)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
