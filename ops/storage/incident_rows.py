"""An incident as read from its row of `ops_alerts_history`: the one mapping every reader shares (the
engine, the read models, storm digests)."""

from __future__ import annotations

import json
from typing import Any

from ops.model import Incident, IncidentStatus, Mute, Severity


def incident_from_row(r: Any) -> Incident:
    return Incident(
        id=r.id,
        fingerprint=r.fingerprint,
        source=r.source,
        key=r.key,
        severity=Severity(r.severity),
        message=r.message,
        status=IncidentStatus(r.status),
        opened_at=r.created_at,
        last_notified_at=r.last_notified_at,
        acknowledged_at=r.acknowledged_at,
        acknowledged_by=r.acknowledged_by,
        resolved_at=r.resolved_at,
        resolved_by=r.resolved_by,
        notification_count=r.notification_count,
        extras=json.loads(r.extras_json or "{}"),
        muted=Mute.stored(r.muted, r.muted_by),
        group_id=getattr(r, "group_id", None),
    )
