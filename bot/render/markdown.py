"""Runbooks (Markdown) as Telegram HTML: headings bold, fenced code as <pre>, inline code, bold.

A fence with nothing in it (or only blank lines) renders nothing: an entity with no text in it is
either dropped by Telegram or, when it is all the message holds, refused as an empty message."""

from __future__ import annotations

import re
from html import escape

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?://[^)\s]+)\)")


def _inline(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(escape(text[pos : m.start()], quote=False))
        if m.group(1) is not None:
            out.append(f"<code>{escape(m.group(1), quote=False)}</code>")
        elif m.group(2) is not None:
            out.append(f"<b>{escape(m.group(2), quote=False)}</b>")
        else:
            out.append(f'<a href="{escape(m.group(4))}">{escape(m.group(3), quote=False)}</a>')
        pos = m.end()
    out.append(escape(text[pos:], quote=False))
    return "".join(out)


def _pre(code: list[str]) -> list[str]:
    text = "\n".join(code).strip("\n")
    return ["<pre>" + escape(text, quote=False) + "</pre>"] if text.strip() else []


def markdown_to_html(markdown: str) -> str:
    lines: list[str] = []
    code: list[str] | None = None
    for raw in markdown.splitlines():
        if raw.strip().startswith("```"):
            if code is None:
                code = []
            else:
                lines += _pre(code)
                code = None
            continue
        if code is not None:
            code.append(raw)
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", raw)
        if heading:
            lines.append(f"<b>{_inline(heading.group(2).strip())}</b>")
            continue
        bullet = re.match(r"^(\s*)[-*]\s+(.*)$", raw)
        if bullet:
            lines.append(f"{bullet.group(1)}• {_inline(bullet.group(2))}")
            continue
        if re.match(r"^\s*\|?\s*-{3,}", raw):
            continue  # table rule lines carry nothing on a phone
        lines.append(_inline(raw))
    if code is not None:  # an unterminated fence still shows its code
        lines += _pre(code)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
