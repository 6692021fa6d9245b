"""/backtest's texts: the photo's caption (what was replayed and the summary) and the episodes, as HTML."""

from __future__ import annotations

from html import escape

from ops.backtest import Backtest
from ops.detectors.sql import format_number
from ops.timeutil import format_duration

EPISODES_SHOWN = 25  # then "… and N more": the chart shows them all


def summary(report: Backtest) -> str:
    """`3 episodes, firing 4h 30m (0.6% of the time), 2 pages, 0.5 pages/week` (or `nothing fired`)."""
    if not report.episodes:
        return "nothing fired"
    span = (report.end - report.start).total_seconds()
    share = 100 * report.firing_seconds / span if span else 0.0
    count, pages = len(report.episodes), report.pages
    return (
        f"{count} episode{'s' if count != 1 else ''}, firing {format_duration(report.firing_seconds)} "
        f"({share:.1f}% of the time), {pages} page{'s' if pages != 1 else ''}, "
        f"{report.pages_per_week:.1f} pages/week"
    )


def backtest_caption(report: Backtest) -> str:
    """At most a few hundred characters: a photo's caption may hold 1024."""
    d = report.detector
    icon = "🔴" if report.pages else ("🟡" if report.episodes else "✅")
    return (
        f"🧪 <b>Backtest · {escape(d.name)}</b> ({escape(d.kind)})\n"
        f"{report.start:%Y-%m-%d %H:%M} → {report.end:%Y-%m-%d %H:%M} UTC, every {format_duration(report.every)}: "
        f"{report.runs:,} runs\n{icon} {escape(summary(report))}\n"
        "Replayed through the alert rules (for, dedup, flapping); nothing was sent."
    )


def backtest_episodes_text(report: Backtest) -> str:
    lines = ["<b>Episodes</b> (fired → resolved, UTC)"]
    for e in report.episodes[:EPISODES_SHOWN]:
        until = f"{e.resolved_at:%m-%d %H:%M}" if e.resolved_at else "still firing"
        peak = f" · peak {format_number(e.value)}" if e.value is not None else ""
        muted = "" if e.paged else " · muted, no page"
        lines.append(
            f"• {e.fired_at:%m-%d %H:%M} → {until} ({format_duration(e.seconds(report.end))}){peak}{muted}\n"
            f"  {escape(e.message)}"
        )
    if len(report.episodes) > EPISODES_SHOWN:
        lines.append(f"… and {len(report.episodes) - EPISODES_SHOWN} more (the chart shows them all)")
    return "\n".join(lines)
