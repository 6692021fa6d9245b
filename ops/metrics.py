"""Prometheus metrics, named as the marketplace plan opsbot grew from named them (docs/choices.md).

Built on a registry passed in (tests use their own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.alerts_total = Counter(
            "alerts_total",
            "Incidents fired (new notifications)",
            ["source", "severity"],
            registry=r,
        )
        self.alerts_deduplicated_total = Counter(
            "alerts_deduplicated_total",
            "Notifications suppressed because the alert was already notified",
            ["source"],
            registry=r,
        )
        self.auto_remediation_total = Counter(
            "auto_remediation_total", "Remediation runs", ["action", "result"], registry=r
        )
        self.auto_remediation_duration_seconds = Histogram(
            "auto_remediation_duration_seconds", "Remediation duration", ["action"], registry=r
        )
        self.slo_violation_total = Counter("slo_violation_total", "SLO violations", ["target"], registry=r)
        self.detector_checks_total = Counter(
            "detector_checks_total", "Detector checks by result", ["detector", "result"], registry=r
        )
        self.detector_check_duration_seconds = Histogram(
            "detector_check_duration_seconds",
            "Detector run duration",
            ["detector"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.outbox_depth = Gauge("opsbot_outbox_depth", "Notifications waiting to be delivered", registry=r)
        self.outbox_delivered_total = Counter(
            "opsbot_outbox_delivered_total",
            "Outbox rows delivered or failed",
            ["result"],
            registry=r,
        )
        self.outbox_digests_total = Counter(
            "opsbot_digests_total", "Storm digests sent (one message for many notifications)", registry=r
        )
        self.alerts_flapping_total = Counter(
            "opsbot_alerts_flapping_total", "Alerts that started flapping", ["detector"], registry=r
        )
        self.notifications_quiet_total = Counter(
            "opsbot_notifications_quiet_total",
            "Notifications quieted by quiet hours (and info): sent without a sound, or held for a morning digest",
            ["mode"],
            registry=r,
        )
        self.outbox_held = Gauge(
            "opsbot_outbox_held", "Outbox rows held by quiet hours for a morning digest", registry=r
        )
        self.telegram_retry_after_total = Counter(
            "opsbot_telegram_retry_after_total", "429 answers received from Telegram", registry=r
        )
        self.leader = Gauge(
            "opsbot_leader", "1 while this replica leads (polls Telegram, runs the scheduler), else 0", registry=r
        )
        self.replicas = Gauge("opsbot_replicas", "Replicas alive on this database, as last seen", registry=r)
