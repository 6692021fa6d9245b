"""Telegram's Mini App `initData`, checked as Telegram documents it (core.telegram.org/bots/webapps,
"Validating data received via the Mini App"):

    secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token)
    hash       = hex(HMAC_SHA256(key=secret_key, msg=data_check_string))

where `data_check_string` is every received field but `hash`, as `key=value`, sorted by key, joined by
"\\n". The hashes are compared in constant time; `auth_date` older than a day (or from the future, past a
few minutes of clock skew) is refused, and so is a field given twice."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

MAX_AGE = 86400.0  # seconds: initData older than a day is refused
SKEW = 300.0  # seconds an auth_date may lie in the future (clocks differ)


@dataclass(frozen=True)
class WebAppUser:
    id: int
    name: str  # "@username", else the first and last name (as the bot names people)


def data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def sign(token: str, fields: dict[str, str]) -> str:
    """The hash Telegram puts on these fields (tests and the screenshots sign initData with it)."""
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def verify(token: str, init_data: str, now: datetime) -> WebAppUser | None:
    """The user `init_data` was signed for; None when it is malformed, signed with another key, stale or
    has no user."""
    if not token or not init_data or len(init_data) > 8192:
        return None
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    fields = dict(pairs)
    if len(fields) != len(pairs) or "hash" not in fields:
        return None
    if not hmac.compare_digest(sign(token, fields).encode(), fields["hash"].encode()):
        return None
    try:
        now_utc = now if now.tzinfo is not None else now.replace(tzinfo=UTC)  # stored times are naive UTC
        age = now_utc.timestamp() - int(fields.get("auth_date", ""))
        user = json.loads(fields.get("user", ""))
        user_id = int(user["id"])
    except (ValueError, TypeError, KeyError):
        return None
    if not -SKEW <= age <= MAX_AGE:
        return None
    username = user.get("username")
    full = " ".join(str(user.get(k) or "") for k in ("first_name", "last_name")).strip()
    return WebAppUser(user_id, f"@{username}" if username else full or str(user_id))
