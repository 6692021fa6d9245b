"""The SLO chart shows its window: a single day of data does not autoscale to years, and an overspent
budget does not flatten the rest."""

from __future__ import annotations

from datetime import date

from matplotlib.dates import num2date

from bot.render.chart import BUDGET_FLOOR, slo_figure


def test_one_day_of_data_is_drawn_on_the_window_and_an_overspent_budget_stops_at_the_floor() -> None:
    fig = slo_figure({"orders": (99.0, [(date(2026, 11, 30), 1.0, 1000.0)])}, 3)
    _sli, budget_ax = fig.axes
    start, end = (num2date(x) for x in budget_ax.get_xlim())
    assert (end - start).days == 3 and start.date() <= date(2026, 11, 28) and end.date() == date(2026, 11, 30)
    line = budget_ax.get_lines()[0]  # the zero line comes after it
    assert list(line.get_ydata()) == [BUDGET_FLOOR]
    assert budget_ax.get_ylim()[0] > 2 * BUDGET_FLOOR
