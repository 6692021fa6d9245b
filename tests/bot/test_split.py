"""The splitter: every part fits, is valid Telegram HTML, and nothing visible is lost."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.emulator.html_check import parse_html, utf16_len
from bot.render.split import split_html

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose

TAGS = ["b", "i", "code", "pre", 'a href="https://example.org/x?a=1&amp;b=2"', "u"]


@st.composite
def html_texts(draw: st.DrawFn, depth: int = 0) -> str:
    pieces = []
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 4 if depth < 3 else 2))
        if choice <= 1:
            raw = draw(st.text(alphabet=st.sampled_from(list("ab c<>&\n\"'й🔥é")), min_size=0, max_size=300))
            pieces.append(html.escape(raw, quote=False))
        elif choice == 2:
            pieces.append("\n" * draw(st.integers(1, 3)))
        else:
            tag = draw(st.sampled_from(TAGS))
            name = tag.split()[0]
            pieces.append(f"<{tag}>{draw(html_texts(depth + 1))}</{name}>")
    return "".join(pieces)


def _words(text: str) -> list[str]:
    return text.split()


@settings(max_examples=150, deadline=None)
@given(html_texts(), st.integers(200, 600))  # above the deepest markup overhead
def test_parts_fit_parse_and_keep_every_visible_word(text: str, limit: int) -> None:
    parts = split_html(text, limit)
    for part in parts:
        assert utf16_len(part) <= limit
        parse_html(part)  # raises on a cut tag or entity, as Telegram would answer 400
    joined = "".join(parse_html(p) for p in parts)
    assert "".join(_words(joined)) == "".join(_words(parse_html(text)))


def test_long_message_splits_at_lines_under_4096() -> None:
    lines = [f"<b>line {i}</b> · value &lt;{i}&gt;" for i in range(600)]
    parts = split_html("\n".join(lines))
    assert len(parts) > 1
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert all(p.startswith("<b>line") for p in parts)  # cuts fall between lines


def test_a_pre_block_cut_in_two_is_closed_and_reopened() -> None:
    text = "<pre>" + "\n".join("x" * 50 for _ in range(200)) + "</pre>"
    parts = split_html(text, 1000)
    assert all(p.startswith("<pre>") and p.endswith("</pre>") for p in parts)


def test_short_text_is_one_part() -> None:
    assert split_html("<b>ok</b>") == ["<b>ok</b>"]
