"""Charts (PNG, Agg): the SLO chart (SLI and error budget over the window, one line per SLO) and the
backtest chart (a replayed series, its band or threshold, its alert episodes).

Drawn with matplotlib's object API (a `Figure` of its own, no pyplot state), so it can run in a worker
thread while the event loop goes on: the bot calls it through `asyncio.to_thread`."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ops.backtest import Backtest

SeriesBySlo = dict[str, tuple[float, list[tuple[date, float, float]]]]  # name → (objective, [(day, good, total)])


BUDGET_FLOOR = -100.0  # % of the error budget left, the lowest the chart draws


def slo_chart_png(series: SeriesBySlo, window_days: int) -> bytes:
    out = io.BytesIO()
    slo_figure(series, window_days).savefig(out, format="png")
    return out.getvalue()


def slo_figure(series: SeriesBySlo, window_days: int) -> Figure:
    from matplotlib.dates import DateFormatter, DayLocator
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 7), dpi=110)
    sli_ax, budget_ax = fig.subplots(2, 1, sharex=True)
    for name, (objective, days) in series.items():
        x, sli, budget = [], [], []
        good = total = 0.0
        for day, g, t in days:  # cumulative from the window's start: the SLI as it stood that day
            good, total = good + g, total + t
            if total:
                x.append(day)
                sli.append(100 * good / total)
                # Shown down to −100 % (spent twice over): an overspent budget of −100,000 % would flatten the rest.
                budget.append(max(BUDGET_FLOOR, 100 * (1 - (1 - good / total) / (1 - objective / 100))))
        (line,) = sli_ax.plot(x, sli, marker="o", markersize=3, linewidth=2, label=f"{name} (objective {objective:g}%)")
        sli_ax.axhline(objective, color=line.get_color(), linestyle="--", linewidth=1)
        budget_ax.plot(x, budget, marker="o", markersize=3, linewidth=2, color=line.get_color(), label=name)
    sli_ax.set_title(f"SLOs over the last {window_days} days", fontsize=14)
    sli_ax.set_ylabel("SLI, % good")
    sli_ax.legend(fontsize=9, loc="lower left")
    sli_ax.grid(alpha=0.3)
    budget_ax.axhline(0, color="black", linewidth=1)
    budget_ax.set_ylabel("error budget left, %")
    budget_ax.grid(alpha=0.3)
    budget_ax.xaxis.set_major_locator(DayLocator(interval=max(1, window_days // 10)))
    budget_ax.xaxis.set_major_formatter(DateFormatter("%d %b"))
    days_shown = [day for _, days in series.values() for day, _, _ in days]
    if days_shown:  # the window, not matplotlib's guess (a single day autoscales to four years)
        end = datetime.combine(max(days_shown), time()) + timedelta(hours=12)
        budget_ax.set_xlim(end - timedelta(days=window_days), end)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def backtest_chart_png(report: Backtest, keys: int = 4) -> bytes:
    """The replayed series with its expected band (or the `alert_if` threshold) and each alert episode as
    a shaded span: one panel per key, the keys that fired longest first (at most `keys`)."""
    import math

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    firing: dict[str, float] = {}
    for episode in report.episodes:
        firing[episode.key] = firing.get(episode.key, 0.0) + episode.seconds(report.end)
    names = sorted({*report.trace, *report.series}, key=lambda k: (-firing.get(k, 0.0), k))[:keys] or [""]
    fig = Figure(figsize=(9, 2.6 * len(names) + 0.8), dpi=110)
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, names, strict=True):
        trace = report.trace.get(key)
        if key in report.series:  # the data itself, as the detector read it
            at, values = report.series[key]
            ax.plot(at, values, linewidth=0.8, color="#1f77b4", label="value")
        elif trace is not None:  # what the detector measured at each run
            ax.plot(trace.at, trace.value, linewidth=1.0, color="#1f77b4", label="value")
        if trace is not None and any(not math.isnan(v) for v in trace.low):
            ax.fill_between(trace.at, trace.low, trace.high, color="#2ca02c", alpha=0.2, label="expected")
        elif report.threshold is not None:
            ax.axhline(report.threshold, color="#d62728", linestyle="--", linewidth=1, label="threshold")
        for episode in (e for e in report.episodes if e.key == key):
            ax.axvspan(  # edged, so a five-minute episode in a five-month chart still shows
                episode.fired_at,
                episode.resolved_at or report.end,
                facecolor="#d62728",
                alpha=0.25,
                edgecolor="#d62728",
                linewidth=0.8,
            )
        ax.set_title(f"{report.detector.name}[{key}]" if key else report.detector.name, fontsize=11, loc="left")
        ax.grid(alpha=0.3)
        ax.set_xlim(report.start, report.end)
    axes[0].legend(fontsize=8, loc="upper right")
    locator = AutoDateLocator()
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    fig.suptitle(f"Backtest: {len(report.episodes)} alert episode(s), shaded", fontsize=12)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
