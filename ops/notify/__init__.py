"""The notification pipeline: what a notification is (`types`), why one is held back (`ops.engine.stages`),
and how it is queued (`ops.engine.pipeline`).

A check result becomes a message in this order: the engine decides that something is news (an alert
fired, resolved, fired again, rose in severity …) → the mute stages ask whether it is muted *now*
(inhibited by a firing `depends_on`, a maintenance window, a silence, flapping) → the router names the
chats → the outbox keeps it until the sender delivers it (grouped into a storm digest where it may be).
Nothing here knows Telegram: bot/ renders each notification type through one registry.
"""
