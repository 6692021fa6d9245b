"""opsbot's own HTTP server (aiohttp): /metrics for Prometheus and /healthz for load balancers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from ops.metrics import Metrics

HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


def build_http_app(metrics: Metrics, probe: HealthProbe) -> web.Application:
    app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        try:
            body = await probe()
        except Exception as exc:  # the database is down, say so with 503
            return web.json_response({"status": "error", "error": type(exc).__name__}, status=503)
        return web.json_response({"status": "ok", **body})

    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    app.router.add_get("/healthz", healthz)
    return app


async def start_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
