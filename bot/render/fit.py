"""Making texts fit Telegram by construction, counted as Telegram counts: in UTF-16 code units.

A Python character outside the Basic Multilingual Plane (most emoji) is two units, so `len()` is not
the measure. Values from outside are clipped *before* escaping, with the escaped size counted, so the
HTML built from them has a known upper bound (the raw HTML is never shorter than what Telegram shows).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from bot.render.split import TELEGRAM_LIMIT, u16

ELLIPSIS = "…"


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


_ESCAPED = {"&": 5, "<": 4, ">": 4}  # html.escape(quote=False): &amp; &lt; &gt;


def _fitting(text: str, units: int, escaped: bool) -> int:
    """How many leading characters of `text` fit in `units` (escaped for HTML when `escaped`)."""
    used = 0
    for i, ch in enumerate(text[: units + 1]):  # every character is at least one unit
        used += _ESCAPED.get(ch, 1) if escaped and ch in _ESCAPED else _units(ch)
        if used > units:
            return i
    return min(len(text), units + 1)


def clip(text: str, units: int) -> str:
    """`text` cut to at most `units` UTF-16 units, ending in "…" when cut (never inside a surrogate pair)."""
    if _fitting(text, units, False) >= len(text):
        return text
    return text[: _fitting(text, units - 1, False)] + ELLIPSIS


def esc(text: str, units: int) -> str:
    """`text` HTML-escaped and cut so that the escaped result is at most `units` UTF-16 units ("…" when cut)."""
    if _fitting(text, units, True) >= len(text):
        return escape(text, quote=False)
    return escape(text[: _fitting(text, units - 1, True)], quote=False) + ELLIPSIS


def cut_at(text: str, units: int) -> int:
    """Where to cut `text` so that its escaped head is at most `units`: at the last line break in the second
    half of that, else right there."""
    n = _fitting(text, units, True)
    if n >= len(text):
        return len(text)
    newline = text.rfind("\n", 0, n)
    return newline if newline > n // 2 else n


def pack(
    blocks: list[list[str]],
    *,
    head: list[str],
    footer: Callable[[int], list[str]],
    max_parts: int = 2,
    limit: int = TELEGRAM_LIMIT,
) -> tuple[list[str], int]:
    """Lines of HTML (each self-contained: every tag it opens it closes, and far shorter than `limit`)
    into at most `max_parts` messages of at most `limit` units.

    `blocks` are groups of lines in order of importance; from the first block that does not fit on,
    every block is left out whole. `footer(left_out)` gives the closing lines (e.g. "…and N more"),
    for which room is kept, so they always fit. Returns the messages and how many blocks were left out.
    """
    reserve = max(u16("\n".join(footer(n))) for n in {0, 1, len(blocks)}) + 1
    parts: list[list[str]] = []
    sizes: list[int] = []

    def room(index: int) -> int:
        return limit - reserve if index == max_parts - 1 else limit

    def add(line: str, kept: int) -> bool:
        size = u16(line)
        if parts and sizes[-1] + 1 + size <= room(len(parts) - 1) + kept:
            parts[-1].append(line)
            sizes[-1] += 1 + size
            return True
        if len(parts) < max_parts and size <= room(len(parts)) + kept:
            parts.append([line])
            sizes.append(size)
            return True
        return False

    for line in head:
        add(line, 0)
    left_out = 0
    for index, block in enumerate(blocks):
        saved = ([list(p) for p in parts], list(sizes))
        if all(add(line, 0) for line in block):
            continue
        parts[:], sizes[:] = saved
        left_out = len(blocks) - index
        break
    for line in footer(left_out):
        add(line, reserve)  # the room kept for it
    return ["\n".join(p) for p in parts], left_out
