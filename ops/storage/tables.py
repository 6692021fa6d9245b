"""Table definitions (SQLAlchemy Core). The Alembic migrations create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

check_results = Table(
    "ops_check_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime, nullable=False),
    Column("detector", String(64), nullable=False),
    Column("key", String(200), nullable=False, server_default=""),
    Column("status", String(16), nullable=False),  # ok | fail | error | no_data
    Column("ok", Boolean, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("message", Text, nullable=False, server_default=""),
    Column("duration_ms", Float, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    Index("ix_ops_check_results_detector_ts", "detector", "key", "ts"),
    Index("ix_ops_check_results_ts", "ts"),
    Index("ix_ops_check_results_sli", "detector", "ts", "ok"),
)

# Alert state per fingerprint: what the engine must remember between checks and restarts.
alert_state = Table(
    "ops_alert_state",
    metadata,
    Column("fingerprint", String(32), primary_key=True),
    Column("detector", String(64), nullable=False),
    Column("key", String(200), nullable=False, server_default=""),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("last_status", String(16), nullable=True),
    Column("last_check_at", DateTime, nullable=True),
    Column("incident_id", Integer, nullable=True),  # the open incident, if any
    Column("last_incident_id", Integer, nullable=True),
    Column("last_resolved_at", DateTime, nullable=True),
    Column("state_changes", Text, nullable=True),  # JSON list of recent fire/resolve times (flap detection)
    Column("flapping_since", DateTime, nullable=True),
)

alerts_history = Table(
    "ops_alerts_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),  # when it first fired
    Column("fingerprint", String(32), nullable=False),
    Column("source", String(64), nullable=False),  # detector name
    Column("key", String(200), nullable=False, server_default=""),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("extras_json", Text, nullable=False, server_default="{}"),
    Column("status", String(16), nullable=False),  # firing | acknowledged | resolved
    Column("last_seen_at", DateTime, nullable=False),
    Column("last_notified_at", DateTime, nullable=True),
    Column("acknowledged_at", DateTime, nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    Column("resolved_at", DateTime, nullable=True),
    Column("resolved_by", String(128), nullable=True),
    Column("notification_count", Integer, nullable=False, server_default="0"),
    # What mutes it now (ops.notify.mute.MuteKind) and by what; kept current by the pipeline's tick.
    Column("muted", String(16), nullable=True),
    Column("muted_by", String(200), nullable=True),
    Column("group_id", Integer, nullable=True),  # the incident (ops_incidents) it belongs to
    Index("ix_ops_alerts_created", "created_at"),
    Index("ix_ops_alerts_fingerprint", "fingerprint"),
    Index("ix_ops_alerts_status", "status"),
    Index("ix_ops_alerts_group", "group_id"),
    # The few open incidents among 100,000s resolved ones (/health, escalation, reminders).
    Index(
        "ix_ops_alerts_open",
        "id",
        sqlite_where=text("status != 'resolved'"),
        postgresql_where=text("status != 'resolved'"),
    ),
)

alert_events = Table(
    "ops_alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime, nullable=False),
    Column("incident_id", Integer, ForeignKey("ops_alerts_history.id"), nullable=True),
    Column("fingerprint", String(32), nullable=True),
    Column("event", String(32), nullable=False),
    Column("actor_id", BigInteger, nullable=True),
    Column("actor", String(128), nullable=True),
    Column("chat_id", BigInteger, nullable=True),
    Column("detail", Text, nullable=True),
    Column("group_id", Integer, nullable=True),  # an entry of this incident's timeline (joined, note, message)
    Index("ix_ops_alert_events_incident", "incident_id"),
    Index("ix_ops_alert_events_ts", "ts"),
    Index("ix_ops_alert_events_group", "group_id"),
)

remediation_history = Table(
    "ops_remediation_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("triggered_at", DateTime, nullable=False),
    Column("alert_id", Integer, ForeignKey("ops_alerts_history.id"), nullable=True),
    Column("action_name", String(64), nullable=False),
    Column("target", String(64), nullable=True),
    Column("trigger", String(64), nullable=False),  # auto | api | a Telegram user id
    Column("status", String(16), nullable=False),  # success | failed | skipped
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("duration_ms", Float, nullable=True),
    Column("output", Text, nullable=True),
    Column("details", Text, nullable=True),
    Index("ix_ops_remed_triggered", "triggered_at"),
)

outbox = Table(
    "ops_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # alert | reminder | resolved | refresh | raised
    Column("incident_id", Integer, ForeignKey("ops_alerts_history.id"), nullable=True),
    Column("payload_json", Text, nullable=False, server_default="{}"),
    Column("status", String(16), nullable=False),  # pending | sending | sent | failed | held (quiet hours)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("sent_at", DateTime, nullable=True),
    Column("message_ids", Text, nullable=True),  # JSON list: one id per part of a split text
    Column("digest_id", Integer, nullable=True),  # delivered as part of this storm digest
    Column("claimed_by", Integer, nullable=True),  # the replica sending it (while `sending`)
    Index("ix_ops_outbox_pending", "status", "chat_id", "id"),
    Index("ix_ops_outbox_incident", "incident_id", "chat_id"),
    Index("ix_ops_outbox_digest", "digest_id"),
)

# Heartbeat pings: what a monitored job told us (kind success | start | fail).
pings = Table(
    "ops_pings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime, nullable=False),
    Column("detector", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=True),
    Column("source", String(64), nullable=True),
    Column("duration_ms", Float, nullable=True),
    Index("ix_ops_pings_detector_ts", "detector", "ts"),
)

# What a detector must remember between runs (the previous scrape of a histogram or counter).
detector_memory = Table(
    "ops_detector_memory",
    metadata,
    Column("detector", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("ts", DateTime, nullable=False),
    Column("state_json", Text, nullable=False),
)

# One row per remediation run (its attempts are rows of ops_remediation_history).
remediation_runs = Table(
    "ops_remediation_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("action", String(64), nullable=False),
    Column("incident_id", Integer, nullable=True),
    Column("trigger", String(64), nullable=False),  # auto | api | a Telegram user id
    Column("actor", String(128), nullable=True),
    Column("status", String(16), nullable=False),  # running | success | failed | skipped
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("duration_ms", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("output", Text, nullable=True),
    Column("replica", Integer, nullable=True),  # the replica running it (while `running`)
    Index("ix_ops_remediation_runs_incident", "incident_id"),
    Index("ix_ops_remediation_runs_action", "action", "started_at"),
)

# At most one run of an action at a time: a run holds its action's row here.
remediation_locks = Table(
    "ops_remediation_locks",
    metadata,
    Column("action", String(64), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("acquired_at", DateTime, nullable=False),
)

# A remediation confirmation asked in a chat: its random token is the ✅ Yes button's payload, good once,
# for that incident and action, until it expires.
remediation_confirmations = Table(
    "ops_remediation_confirmations",
    metadata,
    Column("token", String(32), primary_key=True),
    Column("incident_id", Integer, nullable=False),
    Column("action", String(64), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("asked_by_id", BigInteger, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime, nullable=True),
    Column("answer", String(16), nullable=True),  # yes | no, once used
    Index("ix_ops_remediation_confirmations_expires", "expires_at"),
)

# Good and total events per SLO and day (the SLI's daily history, for event-based SLOs and the view).
slo_daily = Table(
    "ops_slo_daily",
    metadata,
    Column("d", Date, primary_key=True),
    Column("slo", String(64), primary_key=True),
    Column("good", Float, nullable=False),
    Column("total", Float, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Silences: matching alerts are recorded but send nothing while the silence is active.
silences = Table(
    "ops_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(128), nullable=True),
    Column("created_by_id", BigInteger, nullable=True),
    Column("kind", String(16), nullable=False),  # detector | fingerprint | label
    Column("label", String(64), nullable=True),  # the label name for kind=label
    Column("value", String(200), nullable=False),
    Column("ends_at", DateTime, nullable=True),  # NULL: until the incident resolves
    Column("incident_id", Integer, nullable=True),  # for "until resolved"
    Column("reason", Text, nullable=True),
    Column("expired_at", DateTime, nullable=True),  # /unsilence
    Column("chat_id", BigInteger, nullable=True),  # the chat it was made in (that chat sees it in /silences)
)

# Storm digests: one message standing for many outbox rows (they point here with digest_id).
digests = Table(
    "ops_digests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=True),
    Column("page", Integer, nullable=False, server_default="0"),  # 0: the summary; n: details page n
    Column("kind", String(16), nullable=False, server_default="storm"),  # storm | overnight (quiet hours)
)

# Check results rolled up per detector and hour: SLO windows of weeks read a few hundred rows, not
# every check. Kept by the engine as it writes results; `ops.storage.rollup.rebuild` recomputes it.
check_hourly = Table(
    "ops_check_hourly",
    metadata,
    Column("detector", String(64), primary_key=True),
    Column("hour", DateTime, primary_key=True),
    Column("total", Integer, nullable=False),
    Column("good", Integer, nullable=False),
)

# Replicas that ever started on this database; one is alive while it holds its advisory lock.
replicas = Table(
    "ops_replicas",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),  # host:pid
    Column("started_at", DateTime, nullable=False),
    Column("leader_since", DateTime, nullable=True),
)

# Messages posted to Telegram lately, by any replica: the shared rate budget (PostgreSQL only).
sends = Table(
    "ops_sends",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("replica", Integer, nullable=False),
    Index("ix_ops_sends_at", "at"),
    Index("ix_ops_sends_chat", "chat_id", "at"),
)

# A chat Telegram answered 429 for, until when (shared by every replica).
chat_blocks = Table(
    "ops_chat_blocks",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("until", DateTime, nullable=False),
)

# Each config a replica took by a reload (SIGHUP, /reload): the id is the generation. Every replica looks at
# the newest on its heartbeat and, when it is newer than the config it runs, reloads its own file.
config_reloads = Table(
    "ops_config_reloads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(80), nullable=False),  # sha256:<hex> of the file that replica read
    Column("reloaded_at", DateTime, nullable=False),
    Column("replica", Integer, nullable=False),
)

# Incidents: alerts that fire together and share their route's `group_by` labels, or a child alert joined
# to its `depends_on` parent's. Open while any of its alerts fires; everything else is read from them.
incidents = Table(
    "ops_incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("opened_at", DateTime, nullable=False),
    Column("group_key", String(400), nullable=False),  # what later alerts must share to join it
    Column("title", String(200), nullable=False),
    Index("ix_ops_incidents_key", "group_key", "opened_at"),
)

# An incident's forum topic in one chat (a forum supergroup where the bot may manage topics).
incident_topics = Table(
    "ops_incident_topics",
    metadata,
    Column("group_id", Integer, primary_key=True, autoincrement=False),
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("thread_id", BigInteger, nullable=True),  # NULL while a replica is creating it
    Column("name", String(128), nullable=False),  # as Telegram has it now
    Column("closed", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime, nullable=False),
    Column("claimed_by", Integer, nullable=True),  # the replica creating it
    Index("ix_ops_incident_topics_thread", "chat_id", "thread_id"),
)

# The pinned board of open incidents in a forum chat, and when it was last edited (at most every 10 s).
# `pinned`: the pin was done (or refused for good); false between the board's send and its pin.
boards = Table(
    "ops_boards",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", BigInteger, nullable=True),
    Column("text", Text, nullable=False, server_default=""),
    Column("edited_at", DateTime, nullable=True),
    Column("pinned", Boolean, nullable=False, server_default=text("true")),
)

# People who started a private chat with the bot: they can be paged there (`/start` in private).
people = Table(
    "ops_people",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", String(64), nullable=True),
    Column("name", String(128), nullable=False, server_default=""),
    Column("started_at", DateTime, nullable=False),
    Column("blocked_at", DateTime, nullable=True),  # Telegram said the user blocked the bot
)

# On-call overrides: a member takes a schedule's shift (`take`), or one offered to another (`swap`),
# from `starts_at` to `ends_at`. Only `active` ones count; a swap is `pending` until accepted.
oncall_overrides = Table(
    "ops_oncall_overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule", String(64), nullable=False),
    Column("user_id", BigInteger, nullable=False),  # who is on call during it
    Column("starts_at", DateTime, nullable=False),
    Column("ends_at", DateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # take | swap
    Column("status", String(16), nullable=False),  # active | pending | declined | cancelled
    Column("created_at", DateTime, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    Index("ix_ops_oncall_overrides_schedule", "schedule", "status", "ends_at"),
)

# Handoffs announced: one row per schedule and shift, so a restart neither repeats nor skips one.
oncall_handoffs = Table(
    "ops_oncall_handoffs",
    metadata,
    Column("schedule", String(64), primary_key=True),
    Column("shift_start", DateTime, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("announced_at", DateTime, nullable=False),
)

# Steps of an alert's escalation policy taken: when each was first and last taken (repeats), so a
# restart repeats none and skips none; `skipped` by 🙋 Escalate now.
escalation_steps = Table(
    "ops_escalation_steps",
    metadata,
    Column("alert_id", Integer, primary_key=True, autoincrement=False),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("first_at", DateTime, nullable=False),
    Column("last_at", DateTime, nullable=False),
    Column("times", Integer, nullable=False, server_default="1"),
    Column("target", String(80), nullable=False),  # chats | admins | oncall:NAME (→ user id in detail)
    Column("detail", Text, nullable=True),
)

# The browser console's one-time login links (`login`) and sessions (`session`): only the SHA-256 of each
# secret is kept, so the table's contents let nobody in.
console_tokens = Table(
    "ops_console_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # login | session
    Column("user_id", BigInteger, nullable=False),
    Column("user_name", String(128), nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime, nullable=True),  # a login link once used; a session ended by logging out
    Index("ix_ops_console_tokens_expires", "expires_at"),
)
