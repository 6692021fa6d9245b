"""Burn rates and the multiwindow multi-burn-rate rules (Google SRE workbook).

Burn rate over a window = (bad / total in that window) / error budget. Page (critical) when it exceeds
14.4 over both 1 h and 5 m, or 6 over both 6 h and 30 m; ticket (warning) when it exceeds 1 over both
3 d and 6 h. What an SLO's status shows and what the evaluator alerts on both come from here.
"""

from __future__ import annotations

BURN_WINDOWS: dict[str, float] = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21600, "3d": 259200}
PAGE_RULES = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
TICKET_RULES = (("3d", "6h", 1.0),)


def burn_verdict(burn: dict[str, float | None]) -> str:
    """page | ticket | ok: the first rule whose long and short windows both burn faster than its factor."""
    if any(rule_holds(burn, *rule) for rule in PAGE_RULES):
        return "page"
    if any(rule_holds(burn, *rule) for rule in TICKET_RULES):
        return "ticket"
    return "ok"


def rule_holds(burn: dict[str, float | None], long: str, short: str, factor: float) -> bool:
    a, b = burn.get(long), burn.get(short)
    return a is not None and b is not None and a > factor and b > factor


EXHAUSTION_BURN = ("6h", "1h")  # the burn rate "now" for the exhaustion estimate: the first with events


def current_burn(burn: dict[str, float | None]) -> float | None:
    """The burn rate now: over the last 6 h (long enough that one bad minute does not swing it, short enough
    to be now), or the last hour when the 6 h window has no events; None when neither has any."""
    for label in EXHAUSTION_BURN:
        rate = burn.get(label)
        if rate is not None:
            return rate
    return None


def budget_exhausted_in(remaining_pct: float | None, window: float, burn: dict[str, float | None]) -> float | None:
    """Seconds until the window's error budget is spent if the current burn goes on: the unspent share of
    the budget × the window ÷ the burn rate (at burn 1 the whole budget lasts exactly one window; traffic
    taken as steady). None when there is nothing to estimate: no events, no budget left (already exhausted),
    or not burning faster than the budget allows (burn ≤ 1 never spends a rolling window's budget)."""
    rate = current_burn(burn)
    if remaining_pct is None or remaining_pct <= 0 or rate is None or rate <= 1:
        return None
    return remaining_pct / 100 * window / rate
