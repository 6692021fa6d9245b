"""A small client for Alertmanager's API v2: silences for alerts that came over the bridge."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from ops.redaction import redact_message, url_secrets

TIMEOUT = aiohttp.ClientTimeout(total=10)


class AlertmanagerError(Exception):
    """Alertmanager refused or could not be reached; the message is one line for the chat."""


@dataclass(frozen=True)
class AmMatcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: dict[str, str]) -> bool:
        """As Alertmanager matches: a missing label is the empty string, a regex is anchored."""
        given = labels.get(self.name, "")
        if self.is_regex:
            try:
                hit = re.fullmatch(self.value, given) is not None
            except re.error:
                hit = False
        else:
            hit = given == self.value
        return hit == self.is_equal

    def __str__(self) -> str:
        return f'{self.name}{"=" if self.is_equal else "!"}{"~" if self.is_regex else ""}"{self.value}"'


@dataclass(frozen=True)
class AmSilence:
    id: str
    matchers: str  # `alertname="DiskFull", instance="db1"`
    ends_at: str
    created_by: str
    comment: str
    matcher_list: tuple[AmMatcher, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether this silence mutes an alert with these labels (every matcher holds)."""
        return bool(self.matcher_list) and all(m.matches(labels) for m in self.matcher_list)


class AlertmanagerClient:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._secrets = url_secrets(self.url)  # ALERTMANAGER_URL's password never reaches a chat

    def _error(self, text: str) -> AlertmanagerError:
        return AlertmanagerError(redact_message(text, self._secrets))

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as http,
                http.request(method, f"{self.url}/api/v2{path}", json=body) as resp,
            ):
                text = await resp.text()
                if resp.status >= 400:
                    raise self._error(f"Alertmanager answered {resp.status}: {' '.join(text.split())[:200]}")
                try:
                    return await resp.json(content_type=None) if text.strip() else None
                except ValueError:
                    raise self._error(f"Alertmanager answered {resp.status} with something that is not JSON") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._error(f"Alertmanager at {self.url} is unreachable: {type(exc).__name__}") from None

    async def create_silence(self, labels: dict[str, str], seconds: float, created_by: str, comment: str) -> str:
        now = datetime.now(UTC)
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(seconds=seconds)).isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = await self._call("POST", "/silences", body)
        return str((answer or {}).get("silenceID", ""))

    async def expire(self, silence_id: str) -> None:
        await self._call("DELETE", f"/silence/{silence_id}")

    async def active(self) -> list[AmSilence]:
        out = []
        for s in await self._call("GET", "/silences") or []:
            if (s.get("status") or {}).get("state") != "active":
                continue
            matchers = tuple(
                AmMatcher(str(m["name"]), str(m["value"]), bool(m.get("isRegex")), bool(m.get("isEqual", True)))
                for m in s.get("matchers", [])
            )
            out.append(
                AmSilence(
                    s["id"],
                    ", ".join(map(str, matchers)),
                    s.get("endsAt", ""),
                    s.get("createdBy", ""),
                    s.get("comment", ""),
                    matchers,
                )
            )
        return out
