"""What a running process takes from a re-read of its settings (SIGHUP): the chat lists.

The settings object is shared by every service (routing, access, escalation, reports read it when they
need it), so the new lists are assigned onto it in place and take effect at the next alert or command.
Other settings that changed are named in the log (never their values: some are secrets) and wait for a
restart. After the lists change, the catch-up sends still-open alerts to chats that were added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ops.settings import Settings

RELOADED = ("alert_chat_ids", "admin_chat_ids", "admin_user_ids")


@dataclass
class Reread:
    changed: list[str] = field(default_factory=list)  # reloaded settings whose value changed
    need_restart: list[str] = field(default_factory=list)  # changed, but only a restart applies them

    def summary(self) -> str:
        names = ", ".join(n.upper() for n in self.changed) or "no chat list changed"
        text = f"settings re-read: {names}"
        if self.need_restart:
            text += f"; {', '.join(n.upper() for n in self.need_restart)} changed too (a restart applies it)"
        return text


def apply_chat_lists(current: Settings, fresh: Settings) -> Reread:
    """Copy the reloadable settings from `fresh` onto `current`; say what changed."""
    result = Reread()
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
