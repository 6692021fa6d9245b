"""python -m examples NAME --state healthy|broken --url DATABASE_URL: write an example's sample data and
print the exports its config needs (`eval "$(python -m examples …)"`: only `export` lines go to stdout).

python -m examples serve-metrics [--state healthy|broken] [--port 8000]: the marketplace shop's API as
its `api_latency_p95` detector sees it — a Prometheus /metrics endpoint (and the cache endpoint its
`clear_app_cache` remediation posts to), so the example runs without an app of your own.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import signal
import sys
from pathlib import Path

from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from examples import NAMES, get
from ops.redaction import redact

EXIT_USAGE = 2
METRICS_PORT = 8000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples", description="Sample data for the shipped examples, and the shop API's metrics."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="NAME")
    for name in NAMES:
        example = sub.add_parser(name, help=f"write {name}'s sample data and print the exports its config needs")
        example.add_argument("--state", default="broken", help="healthy | broken (marketplace also: demo)")
        example.add_argument("--url", required=True, help="database URL, e.g. sqlite+aiosqlite:///shop.db")
        if name == "marketplace":
            example.add_argument(
                "--metrics-url",
                default=f"http://127.0.0.1:{METRICS_PORT}/metrics",
                help="what APP_METRICS_URL says (default: where serve-metrics listens)",
            )
    serve = sub.add_parser("serve-metrics", help="serve the marketplace API's /metrics until Ctrl-C")
    serve.add_argument("--state", default="healthy", choices=("healthy", "broken"), help="fast or slow requests")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=METRICS_PORT, help=f"default {METRICS_PORT}; 0 picks a free one")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve-metrics":
        return _serve_metrics(args.host, args.port, args.state)
    example = get(args.command)
    try:
        url = async_url(args.url)
    except ArgumentError:
        return _fail(f"--url: not a database URL: {redact(args.url)}")
    try:
        asyncio.run(example.module.seed(url, args.state))
    except ValueError as exc:
        return _fail(f"--state: {exc}")
    except Exception as exc:  # the server is down, refuses, or the file cannot be written: one line
        return _fail(f"cannot write sample data to {redact(url)}: {type(exc).__name__}: {redact(str(exc))[:300]}")
    say(f"{args.command}: {args.state} sample data written to {redact(url)}")
    say(f"config: {example.config} (copy it with {example.config.parent / 'runbooks'}/ next to it)")
    exports = example.module.env(url, args.metrics_url) if args.command == "marketplace" else example.module.env(url)
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")
    if args.command == "marketplace":
        say(f"api_latency_p95 scrapes {exports['APP_METRICS_URL']}: `python -m examples serve-metrics &` serves it")
    return 0


def async_url(raw: str) -> str:
    """The URL with the async driver opsbot uses, and an SQLite file's path made absolute (the exports
    then work from any folder)."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            url = url.set(database=str(Path(url.database).resolve()))
    elif backend == "postgresql":
        url = url.set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False)


def metrics_app(state: str) -> web.Application:
    """The shop API's latency histogram, plus `POST /admin/cache/clear` for the clear_app_cache remediation."""
    from examples.marketplace import latency_app

    app = latency_app(state)

    async def clear_cache(_request: web.Request) -> web.Response:
        return web.json_response({"cleared": True})

    app.router.add_post("/admin/cache/clear", clear_cache)
    return app


def _serve_metrics(host: str, port: int, state: str) -> int:
    async def serve() -> None:
        runner = web.AppRunner(metrics_app(state), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            bound = runner.addresses[0][1]
            say(f"serving the shop API's metrics ({state}) on http://{host}:{bound}/metrics; Ctrl-C stops")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except OSError as exc:  # the port is taken, or the host is not ours
        return _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (--port picks another)")
    return 0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _fail(text: str) -> int:
    say(f"python -m examples: {text}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
