"""The alert engine: check results in, incidents and outbox rows out.

The stages, in order: intake (results made storable, one per key) → evaluate (`for` failing checks in
a row) → severity gate → dedup (an open or just-resolved incident for the fingerprint absorbs the
result) → route (which chats) → outbox. Everything one detector run changes is written in one
transaction, and a detector whose results cannot be processed gets an error result instead.
"""

from ops.engine.engine import AlertEngine, EngineReport
from ops.engine.incidents import AckOutcome, IncidentService

__all__ = ["AckOutcome", "AlertEngine", "EngineReport", "IncidentService"]
