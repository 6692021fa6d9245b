"""What a running process takes from a re-read of its settings (SIGHUP): the chat lists.

The settings object is shared by every service (routing, access, escalation, reports read it when they
need it), so the new lists are assigned onto it in place and take effect at the next alert or command.
Other settings that changed are named in the log (never their values: some are secrets) and wait for a
restart. After the lists change, the catch-up sends still-open alerts to chats that were added.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ops.settings import Settings

RELOADED = ("alert_chat_ids", "admin_chat_ids", "admin_user_ids")


@dataclass
class Reread:
    changed: list[str] = field(default_factory=list)  # reloaded settings whose value changed
    need_restart: list[str] = field(default_factory=list)  # changed, but only a restart applies them
    # Reloadable, but set in the process's environment: it wins over `.env`, and no signal can change it.
    from_environment: list[str] = field(default_factory=list)

    def summary(self) -> str:
        names = ", ".join(n.upper() for n in self.changed) or "no chat list changed"
        text = f"settings re-read: {names}"
        if self.need_restart:
            text += f"; {', '.join(n.upper() for n in self.need_restart)} changed too (a restart applies it)"
        if self.from_environment:
            fixed = ", ".join(n.upper() for n in self.from_environment)
            text += f"; {fixed} set in the process environment: a reload cannot change it, a restart can"
        return text


def apply_chat_lists(current: Settings, fresh: Settings, environ: Mapping[str, str] | None = None) -> Reread:
    """Copy the reloadable settings from `fresh` onto `current`; say what changed."""
    exported = {k.upper() for k in (os.environ if environ is None else environ)}
    result = Reread(from_environment=[n for n in RELOADED if n.upper() in exported])
    for name in type(current).model_fields:
        old, new = getattr(current, name), getattr(fresh, name)
        if old == new:
            continue
        if name in RELOADED:
            setattr(current, name, list(new))
            result.changed.append(name)
        else:
            result.need_restart.append(name)
    return result
