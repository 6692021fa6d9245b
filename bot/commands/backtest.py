"""`opsbot backtest --detector NAME --from … --to … [--json]`: what a detector would have done over a past
range (`ops.backtest`), printed as its alert episodes and a summary, or as JSON.

Exit 0 when nothing fired, 1 when something did, 2 on a mistake (a bad date, an unknown detector, a kind
that cannot be replayed), said in one line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from bot.render.backtest import summary
from ops.backtest import Backtest, BacktestError, run_backtest
from ops.config.models import OpsConfig
from ops.detectors.sql import format_number
from ops.settings import Settings
from ops.timeutil import format_duration

EXIT_OK, EXIT_FIRED, EXIT_ERROR = 0, 1, 2


def parse_moment(text: str, flag: str) -> datetime:
    """Naive UTC from `2026-10-01T00:00`, `2026-10-01 00:00`, `2026-10-01` (UTC unless an offset is given)."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BacktestError(f"{flag}: expected a date like 2026-10-01T00:00 (UTC), got {text!r}") from None
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo is not None else at


async def backtest_command(
    settings: Settings, config: OpsConfig, name: str, start: datetime, end: datetime, *, as_json: bool
) -> int:
    try:
        report = await run_backtest(settings, config, name, start, end)
    except BacktestError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if as_json:
        print(json.dumps([e.as_dict() for e in report.episodes], indent=2, ensure_ascii=False))
    else:
        print(episodes_table(report))
    return EXIT_FIRED if report.fired else EXIT_OK


def episodes_table(report: Backtest) -> str:
    d = report.detector
    lines = [
        f"{d.name} ({d.kind}), {_at(report.start)} → {_at(report.end)} UTC, every {format_duration(report.every)}: "
        f"{report.runs:,} runs"
    ]
    if report.episodes:
        rows = [("FIRED", "RESOLVED", "FOR", "KEY", "PEAK", "MESSAGE")]
        for e in report.episodes:
            rows.append(
                (
                    _at(e.fired_at),
                    _at(e.resolved_at) if e.resolved_at else "still firing",
                    format_duration(e.seconds(report.end)),
                    e.key or "-",
                    format_number(e.value) if e.value is not None else "-",
                    e.message + ("" if e.paged else "  (muted: no page)"),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5] for row in rows]
    lines.append(summary(report))
    return "\n".join(lines)


def _at(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")
