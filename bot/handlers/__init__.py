"""One Router per topic, built fresh for each app; `build_router` nests them in match order."""

from aiogram import Router

from bot.handlers import (
    alerts,
    backtest,
    console,
    digests,
    fallback,
    health,
    incidents,
    oncall,
    paging,
    reload,
    remediation,
    silences,
    slo,
    start,
    sweep,
)


def build_router() -> Router:
    root = Router(name="opsbot")
    # incidents before alerts: the alerts router ends with the catch-all for stale buttons.
    for module in (
        start,
        console,
        health,
        slo,
        oncall,
        remediation,
        silences,
        digests,
        incidents,
        paging,
        alerts,
        sweep,
        backtest,
        reload,
        fallback,
    ):
        root.include_router(module.build_router())
    root.include_router(incidents.build_listener())  # last: people's plain messages, once nothing else took them
    return root
