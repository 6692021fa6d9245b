"""Remediation kinds: each is its config model and an `Action[Model]` subclass, which registers the kind
(`ops.config.kinds`). An action is built as `Action(config, ctx)`; `run` returns its output, or raises
ActionFailed saying why.

Nothing typed in a chat reaches an action: commands, URLs, statements and bodies come from the
config file only; a python action receives the alert as stored in the database.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import aiohttp
from pydantic import Field, field_validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ops.config.fields import FunctionRef, HttpUrl, resolve_function
from ops.config.kinds import RemediationBase, remediation_kinds
from ops.model import Incident
from ops.notify.types import AlertCard
from ops.settings import Settings
from ops.storage.outbox import chats_with_alert, enqueue
from ops.timeutil import Clock

R = TypeVar("R", bound=RemediationBase)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class ActionFailed(Exception):
    """An attempt failed. `permanent`: no retry could succeed (nobody to notify, no such program), so
    the runner stops at once instead of retrying with backoff."""

    def __init__(self, message: str, output: str = "", *, permanent: bool = False) -> None:
        super().__init__(message)
        self.output = output
        self.permanent = permanent


@dataclass
class ActionContext:
    db: AsyncEngine
    settings: Settings
    targets: dict[str, str]
    clock: Clock


class Action(Generic[R]):
    """A remediation kind's implementation. `class ShellAction(Action[ShellRemediation])` registers
    `ShellRemediation`'s kind, run by `ShellAction(config, ctx).run(incident)`."""

    def __init__(self, config: R, ctx: ActionContext) -> None:
        self.config = config
        self.ctx = ctx

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        remediation_kinds.register_implementation(cls, Action)

    async def run(self, incident: Incident | None) -> str:
        """One attempt: its output, or ActionFailed."""
        raise NotImplementedError(f"{type(self).__name__}.run")


async def execute(action: RemediationBase, ctx: ActionContext, incident: Incident | None) -> str:
    """One attempt of `action`, by its kind's implementation."""
    implementation: type[Action[Any]] = remediation_kinds[action.kind].implementation
    return await implementation(action, ctx).run(incident)


class SqlRemediation(RemediationBase):
    kind: Literal["sql"] = "sql"
    target: str
    statement: str


class SqlAction(Action[SqlRemediation]):
    async def run(self, incident: Incident | None) -> str:
        action = self.config
        # A writable engine of its own, in autocommit: VACUUM cannot run inside a transaction.
        engine = create_async_engine(self.ctx.targets[action.target], isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(action.statement))
                if result.returns_rows:
                    rows = result.fetchmany(20)
                    return "\n".join(" | ".join(map(str, row)) for row in rows) or "no rows"
                return f"{action.statement.split()[0].upper()} done" + (
                    f", {result.rowcount} row(s)" if result.rowcount and result.rowcount > 0 else ""
                )
        except Exception as exc:
            orig = getattr(exc, "orig", exc)
            raise ActionFailed(f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}") from None
        finally:
            await engine.dispose()


class ShellRemediation(RemediationBase):
    """An argv list, run without a shell: nothing is ever interpolated into it. It runs with PATH, HOME
    and LANG only, plus `env:` — `{NAME: value}`, or a name alone (a list, or no value) to pass opsbot's own."""

    kind: Literal["shell"] = "shell"
    command: list[str] = Field(min_length=1)
    cwd: str | None = None
    env: dict[str, str | None] = Field(default_factory=dict)

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, raw: object) -> object:
        if isinstance(raw, list):
            raw = {name if isinstance(name, str) else repr(name): None for name in raw}
        if not isinstance(raw, dict):
            return raw
        out: dict[str, str | None] = {}
        for name, value in raw.items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            out[name] = None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        return out

    @field_validator("command", mode="before")
    @classmethod
    def _argv(cls, raw: object) -> object:
        if isinstance(raw, str):
            raise ValueError(
                "expected an argv list, e.g. [systemctl, restart, ingest.service]; it never runs in a shell"
            )
        return raw


INHERITED = ("PATH", "HOME", "LANG")  # all a command gets of opsbot's environment, besides its `env:`


def shell_env(action: ShellRemediation, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a shell action: PATH, HOME, LANG, and what its `env:` names — never opsbot's
    tokens, database URL or anything else it was started with. A name without a value passes opsbot's own."""
    parent = os.environ if parent is None else parent
    env = {name: parent[name] for name in INHERITED if name in parent}
    for name, value in action.env.items():
        if value is not None:
            env[name] = value
        elif name in parent:
            env[name] = parent[name]
    return env


class ShellAction(Action[ShellRemediation]):
    async def run(self, incident: Incident | None) -> str:
        action = self.config
        try:
            proc = await asyncio.create_subprocess_exec(
                *action.command,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                cwd=action.cwd,
                env=shell_env(action),
            )
        except OSError as exc:
            raise ActionFailed(f"cannot start {action.command[0]}: {exc.strerror}", permanent=True) from None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=action.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ActionFailed(f"timed out after {action.timeout:g}s") from None
        output = out.decode(errors="replace")
        if proc.returncode != 0:
            last = output.strip().splitlines()[-1] if output.strip() else ""
            raise ActionFailed(f"exit status {proc.returncode}" + (f": {last}" if last else ""), output)
        return output


class HttpRemediation(RemediationBase):
    kind: Literal["http"] = "http"
    url: HttpUrl
    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")


class HttpAction(Action[HttpRemediation]):
    async def run(self, incident: Incident | None) -> str:
        action = self.config
        timeout = aiohttp.ClientTimeout(total=action.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(action.method, action.url, headers=action.headers, json=action.json_body) as response,
            ):
                body = await response.text(errors="replace")
                if response.status >= 400:
                    raise ActionFailed(f"status {response.status}", body)
                return f"status {response.status}\n{body}"
        except aiohttp.ClientConnectorError:
            raise ActionFailed(f"cannot connect to {action.url.split('?')[0]}") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ActionFailed(f"{type(exc).__name__}: {exc}"[:300]) from None


class NotifyAdminRemediation(RemediationBase):
    """Posts the alert with its whole context to ADMIN_CHAT_IDS."""

    kind: Literal["notify_admin"] = "notify_admin"


class NotifyAdminAction(Action[NotifyAdminRemediation]):
    async def run(self, incident: Incident | None) -> str:
        """The alert with its whole context goes to ADMIN_CHAT_IDS, as a card every ack also edits."""
        ctx = self.ctx
        if not ctx.settings.admin_chat_ids:
            raise ActionFailed("ADMIN_CHAT_IDS is empty: there is nobody to notify", permanent=True)
        if incident is None:
            raise ActionFailed("notify_admin needs an alert to forward", permanent=True)
        async with ctx.db.begin() as conn:
            already = set(await chats_with_alert(conn, incident.id))
            chats = [c for c in dict.fromkeys(ctx.settings.admin_chat_ids) if c not in already]
            await enqueue(conn, chats, AlertCard(context=True), ctx.clock(), incident.id)
        return f"posted to {len(chats)} admin chat(s)" if chats else "the admin chats already have this alert"


class PythonRemediation(RemediationBase):
    """`function: package.module:callable`, called with the alert as a dict; returns its output."""

    kind: Literal["python"] = "python"
    function: FunctionRef


class PythonAction(Action[PythonRemediation]):
    async def run(self, incident: Incident | None) -> str:
        function = resolve_function(self.config.function)
        alert: dict[str, Any] = {}
        if incident is not None:
            alert = {
                "id": incident.id,
                "fingerprint": incident.fingerprint,
                "source": incident.source,
                "key": incident.key,
                "severity": incident.severity.value,
                "message": incident.message,
                "status": incident.status.value,
                "extras": incident.extras,
            }
        try:
            if inspect.iscoroutinefunction(function):
                outcome = await function(alert)
            else:
                outcome = await asyncio.to_thread(function, alert)
        except Exception as exc:
            raise ActionFailed(f"{type(exc).__name__}: {exc}"[:300]) from None
        if outcome is None:
            return "done"
        return outcome if isinstance(outcome, str) else json.dumps(outcome, default=str)
