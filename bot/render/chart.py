"""The SLO chart: SLI and error budget remaining over the window, one line per SLO (PNG, Agg).

Drawn with matplotlib's object API (a `Figure` of its own, no pyplot state), so it can run in a worker
thread while the event loop goes on: the bot calls it through `asyncio.to_thread`."""

from __future__ import annotations

import io
from datetime import date

SeriesBySlo = dict[str, tuple[float, list[tuple[date, float, float]]]]  # name → (objective, [(day, good, total)])


def slo_chart_png(series: SeriesBySlo, window_days: int) -> bytes:
    from matplotlib.dates import DateFormatter
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
                budget.append(100 * (1 - (1 - good / total) / (1 - objective / 100)))
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
    budget_ax.xaxis.set_major_formatter(DateFormatter("%d %b"))
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
