"""Secrets never leave the process: tokens, passwords in URLs, `password=`/`token=` pairs."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable

_PATTERNS = [
    re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}\b"),  # Telegram bot tokens
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
    re.compile(r"(?i)\b(password|passwd|secret|token|api[_-]?key)(\s*[=:]\s*)(\S+)"),
    re.compile(r"(?i)\b(authorization:\s*)(bearer\s+)?\S+"),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    text = _PATTERNS[0].sub("<token>", text)
    text = _PATTERNS[1].sub("<redacted>", text)
    text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}<redacted>", text)
    return _PATTERNS[3].sub(lambda m: f"{m.group(1)}<redacted>", text)


def tail(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def same_secret(given: str, expected: str) -> bool:
    """A token or secret as sent equals the configured one (in constant time: no timing hints)."""
    return hmac.compare_digest(given.encode(), expected.encode())
