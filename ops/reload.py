"""A reload (SIGHUP, /reload, or another replica's reload): the settings' chat lists and the config file.

Settings: the settings object is shared by every service (routing, access, escalation, reports read it when
they need it), so the new chat lists are assigned onto it in place and take effect at the next alert or
command. Other settings that changed are named in the log (never their values: some are secrets) and wait
for a restart. After the lists change, the catch-up sends still-open alerts to chats that were added.

Config: the file (OPSBOT_CONFIG, or `opsbot run --config`) is read and validated as `check-config` does.
A valid one replaces the config in `CurrentConfig`, which every service reads (detectors, targets, routes,
remediations, SLOs, maintenance windows, escalation, schedules); alert states, silences and the outbox are
in the database and carry on. The open alerts of detectors (and SLOs) it removed are resolved as "detector
removed" ("SLO removed"), so the chats that had their cards are told. An invalid file changes nothing: the
admin chats get its errors, exactly as `check-config` prints them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ops.config.current import ConfigChange, CurrentConfig
from ops.config_file import ConfigRejected, read_config
from ops.detectors import TargetPool
from ops.engine.incidents import IncidentService
from ops.notify.types import ConfigRejected as Refused
from ops.settings import Settings
from ops.storage.outbox import enqueue
from ops.timeutil import Clock

log = logging.getLogger(__name__)
DETECTOR_REMOVED = "detector removed"
SLO_REMOVED = "SLO removed"

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
            them = "it" if len(self.need_restart) == 1 else "them"
            text += f"; {', '.join(n.upper() for n in self.need_restart)} changed too (a restart applies {them})"
        if self.from_environment:
            fixed = ", ".join(n.upper() for n in self.from_environment)
            them = "it" if len(self.from_environment) == 1 else "them"
            text += f"; {fixed} set in the process environment: a reload cannot change {them}, a restart can"
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


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: the settings re-read (or why they could not be), and the config taken
    (None: it came from no file), or the file's errors."""

    settings: Reread | None = None
    settings_error: str | None = None
    config: Reloaded | None = None
    rejected: ConfigRejected | None = None


@dataclass(frozen=True)
class Reloaded:
    """A config file taken by a reload."""

    path: str
    digest: str
    change: ConfigChange
    resolved: list[int]  # open incidents of removed detectors and SLOs, now resolved
    warnings: list[str]


class ConfigReloader:
    """Reads the config file again and swaps it in; `path` None: the config came from no file (tests,
    the demo) and only the settings are re-read."""

    def __init__(
        self,
        settings: Settings,
        config: CurrentConfig,
        targets: TargetPool,
        incidents: IncidentService,
        clock: Clock,
        path: str | None = None,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.current = config
        self.targets = targets
        self.incidents = incidents
        self.clock = clock
        self.path = path
        self.on_enqueue = on_enqueue

    async def reload(self) -> Reloaded | None:
        """The file taken (None without a file); raises ConfigRejected and then changes nothing."""
        if self.path is None:
            return None
        file = read_config(self.settings, self.path)
        change = self.current.replace(file.config, file.digest)
        await self.targets.dispose_unused()
        resolved = await self.incidents.resolve_retired(change.removed, DETECTOR_REMOVED)
        resolved += await self.incidents.resolve_retired([f"slo:{n}" for n in change.removed_slos], SLO_REMOVED)
        return Reloaded(file.path, file.digest, change, resolved, file.warnings)

    async def tell_admins(self, rejected: ConfigRejected, replica: str | None, skip: int | None = None) -> int:
        """Queue the errors for the admin chats (but `skip`, which was answered already); how many chats."""
        chats = [c for c in dict.fromkeys(self.settings.admin_chat_ids) if c != skip]
        if not chats:
            return 0
        notice = Refused(path=rejected.path, errors=rejected.text, replica=replica)
        async with self.incidents.db.begin() as conn:
            await enqueue(conn, chats, notice, self.clock())
        if self.on_enqueue is not None:
            self.on_enqueue()
        return len(chats)
