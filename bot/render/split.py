"""Split Telegram HTML under a length limit at line boundaries, never inside a tag or an entity.

Tags open at a cut are closed at the end of the part and reopened at the start of the next one, so
every part is valid HTML on its own. Lengths are counted in UTF-16 code units of the raw HTML, which
is never less than what Telegram counts after parsing.
"""

from __future__ import annotations

import re
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


def split_html(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    if u16(text) <= limit:
        return [text] if text.strip() else []
    lines = text.split("\n")
    parts: list[str] = []
    stack: list[_Open] = []
    current = ""

    def flush() -> None:
        nonlocal current
        part = current.rstrip("\n") + _closers(stack)
        if _visible(part):
            parts.append(part)
        current = _openers(stack)

    def make_room() -> None:
        """Start a new part; markup with nothing visible in it is dropped rather than sent empty."""
        nonlocal current
        if _visible(current):
            flush()
        else:
            current = _openers(stack)

    def fits(piece: str, after: list[_Open]) -> bool:
        return u16(current) + u16(piece) + u16(_closers(after)) <= limit

    for index, line in enumerate(lines):
        piece = line + ("\n" if index < len(lines) - 1 else "")
        after = [*stack]
        for token in _tokens(piece):
            _apply(after, token)
        if fits(piece, after):
            current += piece
            stack = after
            continue
        if current != _openers(stack):
            make_room()
            if fits(piece, after):
                current += piece
                stack = after
                continue
        # One line longer than a whole part: cut it between words (or characters), never in a tag.
        for token in _tokens(piece):
            pieces = [token] if u16(token) < limit // 2 else list(token) if not token.startswith("<") else [token]
            for chunk in pieces:
                after = [*stack]
                _apply(after, chunk)
                if not fits(chunk, after):
                    make_room()
                current += chunk
                stack = after
    tail = current + _closers(stack) if stack else current
    if _visible(tail):
        parts.append(tail.rstrip("\n") if not stack else current.rstrip("\n") + _closers(stack))
    return parts
