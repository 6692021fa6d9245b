"""The config a running process works with, held in one place so a reload reaches every service at once.

Services are given the `CurrentConfig` holder when they are built and read `current.config` whenever they
need it; what they derive from it (parsed cron windows, built detectors) is derived again when the holder's
generation moves. `replace` swaps the whole config in (alert states, silences and the outbox live in the
database and carry on) and says what changed, for the reload's answer and log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ops.config.models import OpsConfig

T = TypeVar("T")
SECTIONS = (
    "targets",
    "routes",
    "remediations",
    "slos",
    "maintenance",
    "escalation",
    "slo_report",
    "slo_report_tz",
    "status_page",
)


def digest_of(raw: bytes) -> str:
    """How /healthz names a config: the SHA-256 of the file's bytes (what `sha256sum opsbot.yaml` prints)."""
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def digest_of_config(config: OpsConfig) -> str:
    """For a config that came from no file (tests, the demo): the SHA-256 of its JSON form."""
    return digest_of(config.model_dump_json().encode())


@dataclass(frozen=True)
class ConfigChange:
    """What a reload changed: detectors by name, and the other sections that differ."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # of SECTIONS
    removed_slos: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.sections)

    def summary(self) -> str:
        """One log line: `detectors: 1 added (x), 0 removed, 2 changed (y, z); routes changed`."""

        def part(what: str, names: list[str]) -> str:
            return f"{len(names)} {what}" + (f" ({', '.join(names)})" if names else "")

        text = "detectors: " + ", ".join(
            (part("added", self.added), part("removed", self.removed), part("changed", self.changed))
        )
        if self.sections:
            text += f"; {', '.join(self.sections)} changed"
        return text


def compare(old: OpsConfig, new: OpsConfig) -> ConfigChange:
    before = {d.name: d for d in old.detectors}
    after = {d.name: d for d in new.detectors}
    old_slos = {s.name for s in old.slos}
    return ConfigChange(
        added=[n for n in after if n not in before],
        removed=[n for n in before if n not in after],
        changed=[n for n in after if n in before and after[n] != before[n]],
        sections=[s for s in SECTIONS if getattr(old, s) != getattr(new, s)],
        removed_slos=sorted(old_slos - {s.name for s in new.slos}),
    )


class CurrentConfig:
    def __init__(self, config: OpsConfig, digest: str | None = None) -> None:
        self._config = config
        self._digest = digest or digest_of_config(config)
        self._generation = 1
        self._derived: dict[str, tuple[int, Any]] = {}

    @property
    def config(self) -> OpsConfig:
        return self._config

    @property
    def digest(self) -> str:
        return self._digest

    @property
    def generation(self) -> int:
        """1 at start, one more for each config swapped in (this process's count, not the database's)."""
        return self._generation

    def replace(self, config: OpsConfig, digest: str) -> ConfigChange:
        change = compare(self._config, config)
        self._config, self._digest = config, digest
        self._generation += 1
        return change

    def derived(self, name: str, make: Callable[[OpsConfig], T]) -> T:
        """`make(config)`, computed once per generation and kept under `name`."""
        kept = self._derived.get(name)
        if kept is None or kept[0] != self._generation:
            kept = (self._generation, make(self._config))
            self._derived[name] = kept
        return kept[1]  # type: ignore[no-any-return]

    @property
    def targets(self) -> Mapping[str, str]:
        """The targets as a live mapping: always the current config's (for the pool of target engines)."""
        return _LiveTargets(self)

    @property
    def heartbeats(self) -> Container[str]:
        """The names of the heartbeat detectors, live: what /ping/<name> accepts."""
        return _Heartbeats(self)


class _Heartbeats(Container[str]):
    def __init__(self, current: CurrentConfig) -> None:
        self._current = current

    def __contains__(self, name: object) -> bool:
        names = self._current.derived("heartbeats", lambda c: frozenset(d.name for d in c.detectors if d.pinged))
        return name in names


class _LiveTargets(Mapping[str, str]):
    def __init__(self, current: CurrentConfig) -> None:
        self._current = current

    def __getitem__(self, name: str) -> str:
        return self._current.config.targets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current.config.targets)

    def __len__(self) -> int:
        return len(self._current.config.targets)
