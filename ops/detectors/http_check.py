"""`http`: one request; value = latency in ms. The message says exactly what was wrong."""

from __future__ import annotations

import time
from typing import Literal

import aiohttp
from pydantic import Field, field_validator

from ops.config.fields import Duration, HttpUrl, OptionalAlertIf
from ops.config.kinds import DetectorBase
from ops.detectors.base import Check, result
from ops.model import CheckResult, CheckStatus


class HttpDetector(DetectorBase):
    """`http`: one request; value = latency in ms. Fails on status, body, latency or transport errors."""

    kind: Literal["http"] = "http"
    url: HttpUrl
    method: Literal["GET", "POST", "HEAD", "PUT"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    contains: str | None = None
    max_latency: Duration | None = None
    alert_if: OptionalAlertIf = None

    @field_validator("expect_status", mode="before")
    @classmethod
    def _statuses(cls, raw: object) -> object:
        return [raw] if isinstance(raw, int) else raw


class HttpCheck(Check[HttpDetector]):
    async def check(self) -> list[CheckResult]:
        cfg = self.config
        timeout = aiohttp.ClientTimeout(total=cfg.timeout)
        started = time.perf_counter()
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(cfg.method, cfg.url, headers=cfg.headers, allow_redirects=True) as response,
            ):
                body = await response.text(errors="replace") if cfg.contains is not None else ""
                status = response.status
        except TimeoutError:
            return [self._fail(f"timed out after {cfg.timeout:g}s")]
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            return [self._fail("connection refused" if refused else f"cannot connect: {exc.os_error}")]
        except aiohttp.ClientError as exc:
            return [self._fail(f"{type(exc).__name__}: {exc}"[:300])]
        latency_ms = (time.perf_counter() - started) * 1000
        problems = []
        if status not in cfg.expect_status:
            expected = " or ".join(map(str, cfg.expect_status))
            problems.append(f"status {status} (expected {expected})")
        if cfg.contains is not None and cfg.contains not in body:
            problems.append(f'body lacked "{cfg.contains}"')
        if cfg.max_latency is not None and latency_ms > cfg.max_latency * 1000:
            problems.append(f"{latency_ms / 1000:.1f} s > {cfg.max_latency:g} s")
        if cfg.alert_if is not None and cfg.alert_if.fails(latency_ms):
            problems.append(f"latency {latency_ms:.0f} ms {cfg.alert_if.text}")
        threshold = cfg.alert_if.text if cfg.alert_if else (f"< {cfg.max_latency:g}s" if cfg.max_latency else None)
        if problems:
            message = f"{cfg.name}: " + ", ".join(problems)
            return [result(cfg, "", CheckStatus.fail, message, value=round(latency_ms, 1), threshold=threshold)]
        message = f"{cfg.name}: status {status} in {latency_ms:.0f} ms"
        return [result(cfg, "", CheckStatus.ok, message, value=round(latency_ms, 1), threshold=threshold)]

    def _fail(self, why: str) -> CheckResult:
        return result(self.config, "", CheckStatus.fail, f"{self.config.name}: {why}")
