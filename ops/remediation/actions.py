"""One function per action kind. Each returns its output, or raises ActionFailed saying why.

Nothing typed in a chat reaches an action: commands, URLs, statements and bodies come from the
config file only; a python action receives the alert as stored in the database.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ops.config.models import (
    HttpRemediation,
    NotifyAdminRemediation,
    PythonRemediation,
    RemediationBase,
    ShellRemediation,
    SqlRemediation,
)
from ops.detectors.python_fn import resolve_function
from ops.model import Incident
from ops.notify.types import AlertCard
from ops.settings import Settings
from ops.storage.outbox import chats_with_alert, enqueue
from ops.timeutil import Clock


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


async def execute(action: RemediationBase, ctx: ActionContext, incident: Incident | None) -> str:
    if isinstance(action, SqlRemediation):
        return await _sql(action, ctx)
    if isinstance(action, ShellRemediation):
        return await _shell(action)
    if isinstance(action, HttpRemediation):
        return await _http(action)
    if isinstance(action, NotifyAdminRemediation):
        return await _notify_admin(ctx, incident)
    if isinstance(action, PythonRemediation):
        return await _python(action, incident)
    raise ActionFailed(f"no runner for {type(action).__name__}")


async def _sql(action: SqlRemediation, ctx: ActionContext) -> str:
    # A writable engine of its own, in autocommit: VACUUM cannot run inside a transaction.
    engine = create_async_engine(ctx.targets[action.target], isolation_level="AUTOCOMMIT")
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


async def _shell(action: ShellRemediation) -> str:
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


async def _http(action: HttpRemediation) -> str:
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


async def _notify_admin(ctx: ActionContext, incident: Incident | None) -> str:
    """The alert with its whole context goes to ADMIN_CHAT_IDS, as a card every ack also edits."""
    if not ctx.settings.admin_chat_ids:
        raise ActionFailed("ADMIN_CHAT_IDS is empty: there is nobody to notify", permanent=True)
    if incident is None:
        raise ActionFailed("notify_admin needs an alert to forward", permanent=True)
    async with ctx.db.begin() as conn:
        already = set(await chats_with_alert(conn, incident.id))
        chats = [c for c in dict.fromkeys(ctx.settings.admin_chat_ids) if c not in already]
        await enqueue(conn, chats, AlertCard(context=True), ctx.clock(), incident.id)
    return f"posted to {len(chats)} admin chat(s)" if chats else "the admin chats already have this alert"


async def _python(action: PythonRemediation, incident: Incident | None) -> str:
    function = resolve_function(action.function)
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
