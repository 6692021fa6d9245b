"""A small client for Alertmanager's API v2: silences for alerts that came over the bridge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)


class AlertmanagerError(Exception):
    """Alertmanager refused or could not be reached; the message is one line for the chat."""


@dataclass(frozen=True)
class AmSilence:
    id: str
    matchers: str  # `alertname="DiskFull", instance="db1"`
    ends_at: str
    created_by: str
    comment: str


class AlertmanagerClient:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as http,
                http.request(method, f"{self.url}/api/v2{path}", json=body) as resp,
            ):
                text = await resp.text()
                if resp.status >= 400:
                    raise AlertmanagerError(f"Alertmanager answered {resp.status}: {text.strip()[:200]}")
                return await resp.json(content_type=None) if text.strip() else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AlertmanagerError(f"Alertmanager at {self.url} is unreachable: {type(exc).__name__}") from None

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
            matchers = ", ".join(
                f'{m["name"]}{"=" if m.get("isEqual", True) else "!"}{"~" if m.get("isRegex") else ""}"{m["value"]}"'
                for m in s.get("matchers", [])
            )
            out.append(AmSilence(s["id"], matchers, s.get("endsAt", ""), s.get("createdBy", ""), s.get("comment", "")))
        return out
