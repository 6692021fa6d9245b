"""What every detector kind shares: `Check`, the context checks are built with, and the safe runner.

A kind is a module with its config model and a `Check[Model]` subclass; defining the subclass registers the
kind (`ops.config.kinds`). `run_detector` is the only way a detector is run: it enforces the timeout, turns
any exception into an `error` result that names the detector, and records metrics. A detector never
pretends OK.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.kinds import DetectorBase, detector_kinds
from ops.detectors.targets import QueryTimeout, TargetPool
from ops.metrics import Metrics
from ops.model import CheckResult, CheckStatus, Severity
from ops.redaction import redact_message
from ops.timeutil import Clock, utcnow

log = logging.getLogger(__name__)
C = TypeVar("C", bound=DetectorBase)


class Detector(Protocol):
    config: DetectorBase

    async def check(self) -> list[CheckResult]:
        """One measurement: a result per key. May raise; `run_detector` turns that into an error."""
        ...


@dataclass
class DetectorContext:
    """What detectors may use: target databases, opsbot's own database (pings, scrape memory), a clock."""

    targets: TargetPool
    db: AsyncEngine | None = None
    clock: Clock = utcnow


class Check(Generic[C]):
    """A detector kind's implementation. `class SqlCheck(Check[SqlDetector])` registers `SqlDetector`'s kind,
    run by `SqlCheck(config, ctx)`; a kind overrides `check` (and `__init__` to prepare, calling super)."""

    def __init__(self, config: C, ctx: DetectorContext) -> None:
        self.config = config
        self.ctx = ctx

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        detector_kinds.register_implementation(cls, Check)

    async def check(self) -> list[CheckResult]:
        raise NotImplementedError(f"{type(self).__name__}.check")


def build_detector(config: DetectorBase, ctx: DetectorContext) -> Detector:
    """The check of `config`'s kind, ready to run."""
    check: type[Check[Any]] = detector_kinds[config.kind].implementation
    return check(config, ctx)


def result(
    config: DetectorBase,
    key: str,
    status: CheckStatus,
    message: str,
    value: float | None = None,
    threshold: str | None = None,
    unit: str | None = None,
) -> CheckResult:
    """One check's result. Key and message are redacted here, before anything stores or shows them: a
    URL's password or a token in its query string (an aiohttp error quotes the URL) never leaves."""
    return CheckResult(
        detector=config.name,
        key=redact_message(key),
        status=status,
        severity=config.severity if status is not CheckStatus.error else Severity.error,
        message=redact_message(message),
        value=value,
        threshold=threshold,
        alert_on_no_data=config.no_data == "alert",
        unit=unit,
    )


def error_result(config: DetectorBase, message: str, duration_ms: float = 0.0) -> CheckResult:
    message = redact_message(message)
    return CheckResult.detector_error(config.name, message, error=message, duration_ms=duration_ms)


async def run_detector(detector: Detector, metrics: Metrics | None = None) -> list[CheckResult]:
    config = detector.config
    started = time.perf_counter()
    try:
        results = await asyncio.wait_for(detector.check(), timeout=config.timeout + 1)
    except (TimeoutError, QueryTimeout):
        results = [error_result(config, f"timed out after {config.timeout:g}s")]
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # any failure to measure becomes a visible error result
        log.warning("detector %s failed: %s", config.name, _describe(exc))
        results = [error_result(config, _describe(exc))]
    duration_ms = (time.perf_counter() - started) * 1000
    results = [CheckResult(**{**r.__dict__, "duration_ms": duration_ms}) if not r.duration_ms else r for r in results]
    if metrics is not None:
        metrics.detector_check_duration_seconds.labels(config.name).observe(duration_ms / 1000)
        for r in results:
            metrics.detector_checks_total.labels(config.name, r.status.value).inc()
    return results


def _describe(exc: BaseException) -> str:
    """A short, secret-free description: the exception's own first line, never a traceback."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    text = str(orig if orig is not None else exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(orig if orig is not None else exc).__name__
    return redact_message(f"{name}: {first}")[:300] if first else name
