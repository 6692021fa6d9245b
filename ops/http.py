"""opsbot's own HTTP server (aiohttp): /metrics, /healthz, /ping for heartbeat detectors, and
/alertmanager for Alertmanager's webhook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container
from typing import Any

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from ops.api import OpsApi
from ops.bridge import AmPayload, BadPayload, parse_payload
from ops.metrics import Metrics
from ops.pings import PingStore, decode_body, read_head
from ops.redaction import same_secret

HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


def build_http_app(
    metrics: Metrics,
    probe: HealthProbe,
    *,
    pings: PingStore | None = None,
    heartbeats: Container[str] = frozenset(),
    ping_token: str = "",
    alertmanager: Callable[[AmPayload], Awaitable[object]] | None = None,
    alertmanager_token: str = "",
    api: OpsApi | None = None,
) -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)  # an Alertmanager storm is a big payload

    async def healthz(_request: web.Request) -> web.Response:
        """200 while this replica does its work; 503 when the database is down or the probe lists
        `problems` (a leader whose scheduler is not running, detectors not run for 3 intervals, …)."""
        try:
            body = await probe()
        except Exception as exc:  # the database is down, say so with 503
            return web.json_response({"status": "error", "error": type(exc).__name__}, status=503)
        if body.get("problems"):
            return web.json_response({"status": "error", **body}, status=503)
        return web.json_response({"status": "ok", **body})

    async def ping(request: web.Request) -> web.Response:
        """healthchecks.io-style pings: /ping/<name>, /ping/<name>/start, /ping/<name>/fail."""
        if ping_token:
            given = request.query.get("token") or request.headers.get("X-Ping-Token") or ""
            if not same_secret(given, ping_token):
                return web.Response(status=403, text="forbidden: wrong or missing ping token\n")
        name = request.match_info["name"]
        kind = {"": "success", "start": "start", "fail": "fail"}.get(request.match_info.get("kind", ""))
        if kind is None or name not in heartbeats or pings is None:
            return web.Response(status=404, text="no such heartbeat\n")
        body = decode_body(await read_head(request.content), request.charset) if request.can_read_body else ""
        await pings.record(name, kind, body, request.remote)
        return web.Response(text="OK\n")

    async def alertmanager_webhook(request: web.Request) -> web.Response:
        """Alertmanager's webhook receiver (payload version 4)."""
        if alertmanager is None:
            return web.json_response({"error": "the Alertmanager bridge is not running"}, status=404)
        if alertmanager_token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not same_secret(given, alertmanager_token):
                return web.json_response({"error": "wrong or missing bearer token"}, status=401)
        try:
            payload = parse_payload(await request.json())
        except (ValueError, UnicodeDecodeError) as exc:  # not JSON, or not Alertmanager's shape
            reason = str(exc) if isinstance(exc, BadPayload) else "the body is not JSON"
            return web.json_response({"error": f"bad payload: {reason}"[:300]}, status=400)
        await alertmanager(payload)
        return web.json_response({"status": "ok", "alerts": len(payload.alerts)})

    app.router.add_post("/alertmanager", alertmanager_webhook)
    if api is not None:
        api.routes(app)
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    app.router.add_get("/healthz", healthz)
    for path in ("/ping/{name}", "/ping/{name}/{kind}"):
        app.router.add_route("GET", path, ping)
        app.router.add_route("POST", path, ping)
    return app


async def start_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
