"""One Router per topic, built fresh for each app; `build_router` nests them in match order."""

from aiogram import Router

from bot.handlers import alerts, digests, fallback, health, oncall, reload, remediation, silences, slo, start, sweep


def build_router() -> Router:
    root = Router(name="opsbot")
    for module in (start, health, slo, oncall, remediation, silences, digests, alerts, sweep, reload, fallback):
        root.include_router(module.build_router())
    return root
