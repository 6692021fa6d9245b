"""`python`: call `package.module:callable` (sync in a thread, or async) for anything else.

It returns a bool (passes or not), a number (checked with `alert_if`), None (no data), or an object
or dict with `ok` and optionally `value` and `message`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from ops.config.models import PythonDetector
from ops.detectors.base import result
from ops.detectors.sql import format_number
from ops.model import CheckResult, CheckStatus


def resolve_function(spec: str) -> Callable[..., Any]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError("expected package.module:callable")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import error in user code is a config error, said plainly
        raise ValueError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(f"{module_name} has no {attr}")
    if not callable(target):
        raise ValueError(f"{spec} is not callable")
    return target


class PythonCheck:
    def __init__(self, config: PythonDetector) -> None:
        self.config = config
        self.function = resolve_function(config.function)

    async def check(self) -> list[CheckResult]:
        if inspect.iscoroutinefunction(self.function):
            outcome = await self.function()
        else:
            outcome = await asyncio.to_thread(self.function)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        return [self._interpret(outcome)]

    def _interpret(self, outcome: Any) -> CheckResult:
        cfg = self.config
        cond = cfg.alert_if
        threshold = cond.text if cond else None
        if outcome is None:
            return result(cfg, "", CheckStatus.no_data, f"{cfg.name}: no data")
        if isinstance(outcome, bool):
            status = CheckStatus.ok if outcome else CheckStatus.fail
            return result(cfg, "", status, f"{cfg.name}: {'ok' if outcome else 'failed'}", value=float(outcome))
        if isinstance(outcome, int | float):
            if cond is None:
                return result(cfg, "", CheckStatus.error, f"{cfg.name}: returned a number but alert_if is not set")
            status = CheckStatus.fail if cond.fails(float(outcome)) else CheckStatus.ok
            message = f"{cfg.name} = {format_number(float(outcome))} (alert if {cond.text})"
            return result(cfg, "", status, message, value=float(outcome), threshold=threshold)
        get = outcome.get if isinstance(outcome, dict) else (lambda k, d=None: getattr(outcome, k, d))
        ok = get("ok")
        if not isinstance(ok, bool):
            return result(
                cfg, "", CheckStatus.error, f"{cfg.name}: returned {type(outcome).__name__} without a bool ok"
            )
        value = get("value")
        value = float(value) if isinstance(value, int | float) else None
        message = str(get("message") or ("ok" if ok else "failed"))
        status = CheckStatus.ok if ok else CheckStatus.fail
        return result(cfg, "", status, f"{cfg.name}: {message}"[:1000], value=value, threshold=threshold)
