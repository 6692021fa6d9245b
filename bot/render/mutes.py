"""How a chat is told what mutes an alert (`ops.model.Mute`): the renderers' one place for it."""

from __future__ import annotations

from bot.render.fit import esc
from ops.model import Mute, MuteKind


def mute_phrase(mute: Mute, units: int = 64) -> str:
    """A short phrase: `🔕 Silenced (silence 3)`, `🔇 Inhibited while db_down fires` …"""
    by = esc(mute.by, units)
    if mute.kind is MuteKind.silenced:
        return f"🔕 Silenced (silence {by})"
    if mute.kind is MuteKind.maintenance:
        return f"🛠 In a maintenance window (<code>{by}</code>)"
    if mute.kind is MuteKind.inhibited:
        return f"🔇 Inhibited while {by} fires"
    return "〰️ Flapping"


def mute_ended(kind: MuteKind) -> str:
    """The reply when what muted a still-firing alert has ended."""
    if kind is MuteKind.silenced:
        return "🔔 The silence has ended and this alert still fires."
    if kind is MuteKind.maintenance:
        return "🔔 The maintenance window has ended and this alert still fires."
    if kind is MuteKind.inhibited:
        return "🔔 What it depends on has recovered and this alert still fires."
    return "〰️ Stopped flapping; still firing."
