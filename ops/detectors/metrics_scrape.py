"""`metrics`: scrape a Prometheus text exposition endpoint.

- a histogram with `quantile`: the quantile of the observations made since the previous scrape,
  interpolated inside its bucket as PromQL's `histogram_quantile` over a rate does (series matching
  the label filter are summed by `le`);
- a counter with `rate: true`: the per-second increase since the previous scrape (resets handled);
- otherwise each matching sample is checked as its own key.
The previous scrape is remembered in the database, so a restart does not lose the baseline.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field, model_validator

from ops.config.fields import AlertIf
from ops.config.kinds import DetectorBase
from ops.detectors.base import Check, result
from ops.detectors.memory import recall, remember
from ops.detectors.sql import format_number
from ops.model import CheckResult, CheckStatus


class MetricsDetector(DetectorBase):
    """`metrics`: scrape a Prometheus text endpoint; a gauge's value, a counter's rate, a histogram's quantile."""

    kind: Literal["metrics"] = "metrics"
    url: str
    metric: str
    # `labels` (from DetectorBase) filters the scraped series, and is shown on the alert as usual.
    quantile: float | None = Field(None, gt=0, lt=1)
    rate: bool = False
    scale: float = 1.0  # multiplies the value: 1000 turns a histogram in seconds into milliseconds
    # Its measured values are kept (its check results, kept at least as long as its readers' `history`)
    # for an `anomaly` or `forecast` detector that names it: `detector: <this one>`.
    keep_history: bool = False
    alert_if: AlertIf

    @model_validator(mode="after")
    def _one_mode(self) -> MetricsDetector:
        if self.quantile is not None and self.rate:
            raise ValueError("quantile (a histogram) and rate (a counter) exclude each other")
        return self


class MetricsCheck(Check[MetricsDetector]):
    async def _scrape(self) -> str:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(self.config.url) as response:
            if response.status != 200:
                raise RuntimeError(f"scrape of {self.config.url} answered {response.status}")
            return await response.text()

    async def check(self) -> list[CheckResult]:
        cfg = self.config
        try:
            text = await self._scrape()
        except aiohttp.ClientConnectorError:
            return [result(cfg, "", CheckStatus.error, f"{cfg.name}: cannot scrape {cfg.url}: connection refused")]
        family = _family(text, cfg.metric)
        if family is None:
            return [result(cfg, "", CheckStatus.error, f"{cfg.name}: {cfg.url} does not expose {cfg.metric}")]
        samples = [s for s in family.samples if all(s.labels.get(k) == v for k, v in cfg.labels.items())]
        if cfg.quantile is not None:
            if family.type != "histogram":
                return [
                    result(
                        cfg,
                        "",
                        CheckStatus.error,
                        f"{cfg.name}: quantile needs a histogram, {cfg.metric} is a {family.type}",
                    )
                ]
            return [await self._quantile(family.name, samples)]
        if cfg.rate:
            if family.type != "counter":
                return [
                    result(
                        cfg, "", CheckStatus.error, f"{cfg.name}: rate needs a counter, {cfg.metric} is a {family.type}"
                    )
                ]
            return [await self._rate(samples)]
        values = [s for s in samples if s.name in (family.name, cfg.metric, f"{family.name}_total")]
        if not values:
            return [result(cfg, "", CheckStatus.no_data, f"{cfg.name}: no series of {cfg.metric} match {cfg.labels}")]
        keyed = len(values) > 1
        return [self._evaluate(_label_key(s.labels) if keyed else "", s.value * cfg.scale) for s in values]

    def _evaluate(self, key: str, value: float) -> CheckResult:
        cfg = self.config
        where = f"{cfg.name}[{key}]" if key else cfg.name
        if math.isnan(value):
            return result(cfg, key, CheckStatus.no_data, f"{where}: NaN", threshold=cfg.alert_if.text)
        status = CheckStatus.fail if cfg.alert_if.fails(value) else CheckStatus.ok
        message = f"{where} = {format_number(value)} (alert if {cfg.alert_if.text})"
        return result(cfg, key, status, message, value=value, threshold=cfg.alert_if.text)

    async def _quantile(self, name: str, samples: list[Any]) -> CheckResult:
        cfg = self.config
        buckets: dict[float, float] = {}
        for s in samples:
            if s.name == f"{name}_bucket":
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
        if not buckets:
            return result(cfg, "", CheckStatus.no_data, f"{cfg.name}: no buckets of {cfg.metric} match {cfg.labels}")
        now = self.ctx.clock()
        previous = await recall(self.ctx.db, cfg.name, "") if self.ctx.db is not None else None
        if self.ctx.db is not None:
            await remember(self.ctx.db, cfg.name, "", now, {str(k): v for k, v in buckets.items()})
        if previous is None:
            return result(cfg, "", CheckStatus.no_data, f"{cfg.name}: first scrape; the quantile needs a second one")
        before = {float(k): v for k, v in previous[1].items()}
        delta = {le: count - before.get(le, 0.0) for le, count in buckets.items()}
        if any(v < 0 for v in delta.values()):  # the counters were reset: everything is new
            delta = dict(buckets)
        value = histogram_quantile(cfg.quantile or 0.5, delta)
        if value is None:
            return result(cfg, "", CheckStatus.no_data, f"{cfg.name}: no observations since the last scrape")
        return self._evaluate("", value * cfg.scale)

    async def _rate(self, samples: list[Any]) -> CheckResult:
        cfg = self.config
        total = sum(s.value for s in samples if s.name.endswith("_total") or s.name == cfg.metric)
        now = self.ctx.clock()
        previous = await recall(self.ctx.db, cfg.name, "") if self.ctx.db is not None else None
        if self.ctx.db is not None:
            await remember(self.ctx.db, cfg.name, "", now, total)
        if previous is None:
            return result(cfg, "", CheckStatus.no_data, f"{cfg.name}: first scrape; a rate needs a second one")
        seconds = (now - previous[0]).total_seconds()
        if seconds <= 0:
            return result(cfg, "", CheckStatus.no_data, f"{cfg.name}: scraped twice in the same instant")
        increase = total - previous[1] if total >= previous[1] else total
        return self._evaluate("", increase / seconds * cfg.scale)


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """PromQL's histogram_quantile over cumulative bucket counts {le: count}."""
    bounds = sorted(buckets)
    if not bounds or bounds[-1] != math.inf:
        return None
    total = buckets[math.inf]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if le == math.inf:
                return bounds[-2] if len(bounds) > 1 else None
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return None


def _family(text: str, metric: str) -> Any:
    for family in text_string_to_metric_families(text):
        if metric in (family.name, f"{family.name}_total"):
            return family
    return None


def _label_key(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "le")
