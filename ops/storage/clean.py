"""Text made storable: whatever a target, a webhook or a Telegram user sends fits opsbot's columns.

PostgreSQL refuses NUL in text and checks `String(n)` widths; no database can encode a lone UTF-16
surrogate (JSON may carry one as `\\ud800`). Everything stored from outside passes through here first.
"""

from __future__ import annotations

import hashlib
import unicodedata

KEY_LIMIT = 200  # the width of every `key` column
ACTOR_LIMIT = 128  # acknowledged_by, actor, created_by
MESSAGE_LIMIT = 4000  # an incident's message: a card shows far less
ELLIPSIS = "…"
_JOINERS = {"\u200d", "\u034f", "\u2060"}


def clean_text(value: str) -> str:
    """`value` without NUL and with lone surrogates replaced by U+FFFD (surrogate pairs are joined)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def shorten(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, ending with "…" when cut, never between a character and
    the combining marks or joiners that belong to it."""
    if len(value) <= limit:
        return value
    cut = limit - len(ELLIPSIS)
    while cut > 0 and _attached(value, cut):
        cut -= 1
    return value[:cut] + ELLIPSIS


def _attached(value: str, at: int) -> bool:
    """Whether the character at `at` belongs to the one before it (a combining mark, a variation
    selector, or either side of a zero-width joiner)."""
    char, before = value[at], value[at - 1]
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) == "Me"
        or 0xFE00 <= ord(char) <= 0xFE0F
        or char in _JOINERS
        or before in _JOINERS
    )


def storage_key(key: str) -> str:
    """A key that fits the key columns. A longer one keeps its start and ends with a hash of the whole,
    so two long keys stay two keys, and the same key is shortened the same way on every run."""
    key = clean_text(key)
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{shorten(key, KEY_LIMIT - len(digest))}{digest}"


def message_text(message: str) -> str:
    return shorten(clean_text(message), MESSAGE_LIMIT)


def actor_name(name: str) -> str:
    """Who did something, as stored in the audit trail and on incidents (a Telegram full name may be
    129 characters: 64 + a space + 64)."""
    return shorten(clean_text(name).strip(), ACTOR_LIMIT) or "?"
