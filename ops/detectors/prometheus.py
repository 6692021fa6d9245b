"""`prometheus`: an instant PromQL query against a Prometheus server's HTTP API.

Each series of a vector result is checked as its own key (its label set); a scalar is one value.
"""

from __future__ import annotations

import math
from typing import Literal

import aiohttp

from ops.config.fields import AlertIf
from ops.config.kinds import DetectorBase
from ops.detectors.base import Check, result
from ops.detectors.sql import format_number
from ops.model import CheckResult, CheckStatus


class PrometheusDetector(DetectorBase):
    """`prometheus`: an instant PromQL query; each series of a vector is its own key."""

    kind: Literal["prometheus"] = "prometheus"
    url: str
    query: str
    alert_if: AlertIf


class PrometheusCheck(Check[PrometheusDetector]):
    async def check(self) -> list[CheckResult]:
        cfg = self.config
        url = cfg.url.rstrip("/") + "/api/v1/query"
        timeout = aiohttp.ClientTimeout(total=cfg.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, params={"query": cfg.query, "timeout": f"{cfg.timeout:g}s"}) as response,
            ):
                body = await response.json(content_type=None)
        except aiohttp.ClientConnectorError:
            return [result(cfg, "", CheckStatus.error, f"{cfg.name}: cannot reach Prometheus at {cfg.url}")]
        except ValueError:
            return [result(cfg, "", CheckStatus.error, f"{cfg.name}: {cfg.url} did not answer JSON")]
        if body.get("status") != "success":
            why = f"{body.get('errorType', 'error')}: {body.get('error', 'unknown')}"
            return [result(cfg, "", CheckStatus.error, f"{cfg.name}: Prometheus said {why}"[:300])]
        data = body["data"]
        if data["resultType"] == "scalar":
            return [self._evaluate("", data["result"][1])]
        if data["resultType"] != "vector":
            return [
                result(cfg, "", CheckStatus.error, f"{cfg.name}: expected a vector or scalar, got {data['resultType']}")
            ]
        series = data["result"]
        if not series:
            return [result(cfg, "", CheckStatus.no_data, f"{cfg.name}: the query returned no series")]
        return [self._evaluate(_key(s["metric"]), s["value"][1]) for s in series]

    def _evaluate(self, key: str, raw: str) -> CheckResult:
        cfg = self.config
        where = f"{cfg.name}{{{key}}}" if key else cfg.name
        value = float(raw)
        if math.isnan(value):
            return result(cfg, key, CheckStatus.no_data, f"{where}: NaN", threshold=cfg.alert_if.text)
        status = CheckStatus.fail if cfg.alert_if.fails(value) else CheckStatus.ok
        message = f"{where} = {format_number(value)} (alert if {cfg.alert_if.text})"
        return result(cfg, key, status, message, value=value, threshold=cfg.alert_if.text)


def _key(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
