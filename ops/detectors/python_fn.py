"""`python`: call `package.module:callable` (sync in a thread, or async) for anything else.

It returns a bool (passes or not), a number (checked with `alert_if`), None (no data), or an object
or dict with `ok` and optionally `value` and `message`.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Literal

from ops.config.fields import FunctionRef, OptionalAlertIf, resolve_function
from ops.config.kinds import DetectorBase
from ops.detectors.base import Check, DetectorContext, result
from ops.detectors.sql import format_number
from ops.model import CheckResult, CheckStatus


class PythonDetector(DetectorBase):
    """`python`: `function: package.module:callable` returning a number, a bool or {ok, value, message}."""

    kind: Literal["python"] = "python"
    function: FunctionRef
    alert_if: OptionalAlertIf = None


class PythonCheck(Check[PythonDetector]):
    def __init__(self, config: PythonDetector, ctx: DetectorContext) -> None:
        super().__init__(config, ctx)
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
