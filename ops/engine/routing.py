"""Which chats an alert goes to: the first matching route (and the next ones while `continue`),
or ALERT_CHAT_IDS when no route matches (as Alertmanager's root route)."""

from __future__ import annotations

from ops.config.current import CurrentConfig
from ops.config.models import DetectorBase, RouteConfig
from ops.model import Severity
from ops.settings import Settings


class Router:
    def __init__(self, settings: Settings, config: CurrentConfig | None = None) -> None:
        self.settings = settings
        self.config = config

    @property
    def routes(self) -> list[RouteConfig]:
        """The routes of the config loaded now (none without a config)."""
        return list(self.config.config.routes) if self.config is not None else []

    def chats(self, detector: str, severity: Severity, labels: dict[str, str], key: str = "") -> list[int]:
        fields = {**labels, "severity": severity.value, "detector": detector, "key": key}
        chats: list[int] = []
        for route in self.routes:
            if route.matches(fields):
                chats.extend(route.chats)
                if not route.continue_:
                    break
        return list(dict.fromkeys(chats or self.settings.alert_chat_ids))

    def route_for(self, detector: DetectorBase | None, severity: Severity, key: str = "") -> RouteConfig | None:
        """The first route an alert matches (whose `group_by` groups it into incidents), if any."""
        if detector is None:
            return None
        fields = {**detector.labels, "severity": severity.value, "detector": detector.name, "key": key}
        return next((route for route in self.routes if route.matches(fields)), None)

    def chats_for(self, detector: DetectorBase | None, severity: Severity, key: str = "") -> list[int]:
        """A detector's chats; one no longer configured goes to ALERT_CHAT_IDS."""
        if detector is None:
            return list(self.settings.alert_chat_ids)
        return self.chats(detector.name, severity, dict(detector.labels), key)

    def all_chats(self) -> set[int]:
        return {c for route in self.routes for c in route.chats}
