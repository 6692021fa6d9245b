"""Secrets never leave the process: tokens, passwords in URLs, token-like query parameters, `KEY=value`
pairs, and every secret value the settings and the config hold.

Two strengths:
- `redact_message` is for what a detector or the Alertmanager client says (stored, shown in chats and
  the API): URL credentials (`user:pass@` → `user:***@`), token-like query parameters (`?token=***`),
  bot tokens, `Authorization` headers, and the secret values it is given. It never touches ordinary
  words, so `secret_age = 5` stays readable.
- `redact` is for log lines and remediation output, which may print anything: all of the above, plus
  `API_TOKEN=…`, `"password": "…"`, `--token …`, `Bearer …`.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from ops.config.models import OpsConfig
    from ops.settings import Settings

MASK = "***"
REDACTED = "<redacted>"
MIN_SECRET = 4  # shorter configured values would blank out ordinary text

# `scheme://user:password@host`: the password runs to the last `@` before the path (raw DSN passwords
# sometimes hold an `@`).
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s:/@?#]*):([^\s/?#]*)@")
# Query parameters whose value is a credential: token, access_token, api_key, key, secret, password,
# sig, signature, auth, X-Amz-Credential … (the name, or its last `_`/`-`/`.` part).
_PARAM_NAMES = (
    "token|key|apikey|secret|password|passwd|pass|pwd|sig|signature|auth|authorization|credential|credentials|jwt"
)
_QUERY_SECRET = re.compile(rf"(?i)([?&;](?:[a-z0-9]*[_.-])*(?:{_PARAM_NAMES})=)([^&#\s\"'<>]+)")
_BOT_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}\b")
_AUTH_HEADER = re.compile(r"(?i)\b(authorization\s*[:=]\s*)((?:bearer|basic|token)\s+)?[^\s,;\"']+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# `API_TOKEN=x`, `db_password: x`, `"client_secret": "x"` (not a URL query parameter: done above).
_SECRET_WORDS = "password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?"
_ASSIGNMENT = re.compile(
    rf"(?i)(?<![?&;\w])(\w*(?:{_SECRET_WORDS})\w*[\"']?\s*(?:=|:(?!//))\s*)(?!\*\*\*|<redacted>)(\"[^\"]*\"|'[^']*'|[^\s,;]+)"
)
# `--token X`, `--password=X`, `--api-key X`.
_FLAG = re.compile(
    r"(?i)(--[a-z0-9-]*(?:password|passwd|secret|token|api-?key|apikey|credentials?)[a-z0-9-]*(?:=|\s+))"
    r"(?!\*\*\*|<redacted>)(\S+)"
)


def _replace_values(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_url(text: str) -> str:
    """URL credentials and token-like query parameters: `https://u:***@h/p?token=***&page=2`."""
    if "@" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return text


def redact_message(text: str, secrets: Iterable[str] = ()) -> str:
    """What a detector or the Alertmanager client says, before it is stored or shown anywhere. Runs on
    every check result, so each pattern is tried only when its telltale character is there."""
    if not text:
        return text
    text = _replace_values(text, secrets)
    text = redact_url(text)
    if ":" in text:
        text = _BOT_TOKEN.sub("<token>", text)
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Log lines and remediation output: everything `redact_message` does, and `NAME_TOKEN=…` pairs,
    `--token …` flags and bearer tokens."""
    text = redact_message(text, secrets)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _FLAG.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def url_secrets(url: str | None) -> list[str]:
    """The password of a URL and the values of its token-like query parameters (raw and decoded)."""
    if not url or "://" not in url:
        return []
    try:
        parts = urlsplit(url)
        password = parts.password
        query = parse_qsl(parts.query, keep_blank_values=False)
    except ValueError:
        return []
    out = [password, unquote(password)] if password else []
    names = re.compile(rf"(?i)^(?:[a-z0-9]*[_.-])*(?:{_PARAM_NAMES})$")
    out += [value for name, value in query if names.match(name)]
    return out


_SECRET_NAME = re.compile(rf"(?i)({_SECRET_WORDS}|auth|cookie|signature)")


def is_secret_name(name: str) -> bool:
    """A header or variable name whose value is a credential (`Authorization`, `X-Api-Key`, `DB_PASSWORD`)."""
    return bool(_SECRET_NAME.search(name))


def configured_secrets(settings: Settings, config: OpsConfig | None = None) -> list[str]:
    """Every secret value opsbot knows: the secret settings, passwords (and token parameters) of every
    URL in the settings and the config, secret-named headers, and secret-named remediation `env:`."""
    values: list[str] = [
        settings.bot_token,
        settings.ping_token,
        settings.webhook_secret,
        settings.alertmanager_webhook_token,
        settings.api_token,
    ]
    for url in (settings.database_url, settings.alertmanager_url, settings.webhook_url):
        values += url_secrets(url)
    if config is not None:
        for url in config.targets.values():
            values += url_secrets(url)
        for item in [*config.detectors, *config.remediations]:
            values += url_secrets(getattr(item, "url", None))
            values += _named_values(getattr(item, "headers", None))
            values += _named_values(getattr(item, "env", None))
    return [v for v in dict.fromkeys(values) if v and len(v) >= MIN_SECRET]


def _named_values(mapping: Any) -> list[str]:
    if not isinstance(mapping, dict):
        return []
    out = []
    for name, value in mapping.items():
        if value is None:  # an `env:` name passed through: opsbot's own value
            value = os.environ.get(str(name))
        if isinstance(value, str) and is_secret_name(str(name)):
            out.append(value)
            if " " in value:  # `Bearer abc…`: the credential alone too
                out.append(value.split(" ", 1)[1].strip())
    return out


def tail(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def same_secret(given: str, expected: str) -> bool:
    """A token or secret as sent equals the configured one (in constant time: no timing hints)."""
    return hmac.compare_digest(given.encode(), expected.encode())
