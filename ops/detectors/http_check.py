"""`http`: one request; value = latency in ms. The message says exactly what was wrong."""

from __future__ import annotations

import time

import aiohttp

from ops.config.models import HttpDetector
from ops.detectors.base import result
from ops.model import CheckResult, CheckStatus


class HttpCheck:
    def __init__(self, config: HttpDetector) -> None:
        self.config = config

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
