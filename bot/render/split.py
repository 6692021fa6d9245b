"""Split Telegram HTML under a length limit at line boundaries, never inside a tag or an entity.

Tags open at a cut are closed at the end of the part and reopened at the start of the next one, so
every part is valid HTML on its own. Lengths are counted in UTF-16 code units of the raw HTML, which
is never less than what Telegram counts after parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

TELEGRAM_LIMIT = 4096
_TOKEN = re.compile(r"<[^<>]*>|&[#a-zA-Z0-9]+;|\n|[^<&\n]+|[<&]")
_WORD = re.compile(r"\S+\s*|\s+")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)")


def u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    name: str
    tag: str  # the opening tag as written, attributes included


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for token in _TOKEN.findall(text):
        if token.startswith(("<", "&")) or token == "\n":
            out.append(token)
        else:
            out.extend(_WORD.findall(token))
    return out


def _apply(stack: list[_Open], token: str) -> None:
    if not token.startswith("<") or len(token) < 3:
        return
    match = _TAG_NAME.match(token)
    if not match:
        return
    name = match.group(1).lower()
    if token.startswith("</"):
        for i in range(len(stack) - 1, -1, -1):
            if stack[i].name == name:
                del stack[i:]
                break
    elif not token.endswith("/>"):
        stack.append(_Open(name, token))


def _closers(stack: list[_Open]) -> str:
    return "".join(f"</{o.name}>" for o in reversed(stack))


def _openers(stack: list[_Open]) -> str:
    return "".join(o.tag for o in stack)


def _visible(part: str) -> str:
    return re.sub(r"<[^<>]*>", "", part).strip()


def _chunks(word: str, room: Callable[[], int], make_room: Callable[[], None]) -> Iterator[str]:
    """A word of plain text (no tag, no entity) longer than half a part, in pieces that fill each part's
    room: slices, not characters one by one, so a long word costs time in proportion to its length."""
    pos = 0
    while pos < len(word):
        left = room()
        n = min(len(word) - pos, max(left, 0))
        while n and u16(word[pos : pos + n]) > left:  # outside the BMP a character is two units: give some back
            n -= max(1, (u16(word[pos : pos + n]) - left) // 2)
        if n <= 0:
            make_room()
            n = 1 if room() <= 0 else 0  # a part too small for anything: one character, not a loop
            if not n:
                continue
        yield word[pos : pos + n]
        pos += n


def split_html(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Linear in the text: each part is built as a list with its size kept alongside."""
    if u16(text) <= limit:
        return [text] if text.strip() else []
    lines = text.split("\n")
    parts: list[str] = []
    stack: list[_Open] = []
    current: list[str] = []
    size = 0
    fresh = True  # nothing but the reopened tags in the current part yet

    def start_part() -> None:
        nonlocal size, fresh
        openers = _openers(stack)
        current[:] = [openers]
        size = u16(openers)
        fresh = True

    def make_room() -> None:
        """Start a new part; markup with nothing visible in it is dropped rather than sent empty."""
        part = "".join(current)
        if _visible(part):
            part = part.rstrip("\n") + _closers(stack)
            if _visible(part):
                parts.append(part)
        start_part()

    def fits(units: int, after: list[_Open]) -> bool:
        return size + units + u16(_closers(after)) <= limit

    def room() -> int:
        return limit - size - u16(_closers(stack))

    def add(piece: str, units: int) -> None:
        nonlocal size, fresh
        current.append(piece)
        size += units
        fresh = False

    for index, line in enumerate(lines):
        piece = line + ("\n" if index < len(lines) - 1 else "")
        units = u16(piece)
        after = [*stack]
        if "<" in piece:  # only tags change what is open
            for token in _tokens(piece):
                _apply(after, token)
        if fits(units, after):
            add(piece, units)
            stack = after
            continue
        if not fresh and u16(_openers(stack)) + units + u16(_closers(after)) <= limit:
            make_room()  # the line fits a part of its own: start one, so the cut falls between lines
            add(piece, units)
            stack = after
            continue
        # One line longer than a whole part: cut it between words (or characters), never in a tag.
        for token in _tokens(piece):
            if u16(token) >= limit // 2 and not token.startswith(("<", "&")):
                for chunk in _chunks(token, room, make_room):
                    add(chunk, u16(chunk))
                continue
            after = [*stack]
            _apply(after, token)
            token_units = u16(token)
            if not fits(token_units, after):
                make_room()
            add(token, token_units)
            stack = after
    tail = "".join(current)
    if _visible(tail):
        parts.append(tail.rstrip("\n") + _closers(stack))
    return parts
