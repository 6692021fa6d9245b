"""`opsbot`: run, migrate, sweep --once, backtest, demo, check-config, init, emulator, bench."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.logs import configure_logging

if TYPE_CHECKING:  # imported where used, so Ctrl-C while starting up and `opsbot init` stay light
    from ops.config import OpsConfig
    from ops.config_file import ConfigFile
    from ops.settings import Settings

EXIT_OK, EXIT_FAILING, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsbot", description="A Telegram bot that is a small team's ops console.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run detectors, the alert engine, HTTP and (with BOT_TOKEN) the Telegram bot")
    run.add_argument("--config", metavar="PATH", help="config file (default: OPSBOT_CONFIG)")
    sub.add_parser("migrate", help="bring the database (DATABASE_URL) to the latest schema")
    sweep = sub.add_parser("sweep", help="run every detector once and print the results")
    sweep.add_argument("--config", metavar="PATH", help="config file (default: OPSBOT_CONFIG)")
    sweep.add_argument("--once", action="store_true", help="run once and exit (the only mode; for cron and CI)")
    sweep.add_argument("--json", action="store_true", help="print JSON instead of a table")
    backtest = sub.add_parser(
        "backtest", help="replay one detector over a past range through the alert logic; nothing is sent"
    )
    backtest.add_argument("--detector", metavar="NAME", help="the detector to replay")
    backtest.add_argument("--from", dest="start", metavar="TIME", help="start, UTC, e.g. 2026-10-01T00:00")
    backtest.add_argument("--to", dest="end", metavar="TIME", help="end, UTC, e.g. 2026-11-01T00:00")
    backtest.add_argument("--json", action="store_true", help="print the alert episodes as JSON")
    backtest.add_argument("--config", metavar="PATH", help="config file (default: OPSBOT_CONFIG)")
    demo = sub.add_parser("demo", help="play opsbot end to end against a local Telegram emulator (no token needed)")
    demo.add_argument("--interactive", action="store_true", help="keep running; type commands, press buttons")
    demo.add_argument("--dir", default="./opsbot-demo", help="where the demo writes its files (default ./opsbot-demo)")
    demo.add_argument(
        "--example",
        default="marketplace",
        choices=["marketplace", "trading-pipeline", "devdiag"],
        help="which shipped example to play (the last two need PostgreSQL)",
    )
    demo.add_argument("--postgres", help="PostgreSQL server URL for those (default OPSBOT_DEMO_POSTGRES_URL or local)")
    bench = sub.add_parser(
        "bench", help="benchmarks: storm vs Alertmanager, latency, sweep, console, memory, status page, backtest"
    )
    bench.add_argument("--quick", action="store_true", help="small sizes, a couple of minutes")
    bench.add_argument(
        "--only", nargs="+", choices=["storm", "latency", "sweep", "console", "memory", "status", "backtest"]
    )
    bench.add_argument("--out", help="where to write the JSON (default bench/results.json)")
    check = sub.add_parser("check-config", help="validate the config file and exit non-zero with every error")
    check.add_argument("path", nargs="?", help="config file (default: OPSBOT_CONFIG)")
    init = sub.add_parser("init", help="write a starting opsbot.yaml and .env in this folder")
    init.add_argument("--force", action="store_true", help="overwrite opsbot.yaml and .env if they exist")
    emulator = sub.add_parser("emulator", help="run the local Telegram Bot API emulator alone, to try `opsbot run`")
    emulator.add_argument("--port", type=int, default=8081, help="port on 127.0.0.1 (default 8081; 0 picks a free one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before a command set up its own handling (say, while importing)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(quiet=args.command in ("demo", "emulator"))
    if args.command == "init":  # before the settings: a broken .env must not stop the command that writes one
        from bot.commands.init import run_init

        return run_init(Path.cwd(), force=args.force)
    if args.command == "emulator":
        from bot.emulator.standalone import run_emulator

        return run_emulator(args.port)
    if args.command == "bench":  # its own settings and emulator: needs nothing from the environment
        logging.getLogger().setLevel(logging.ERROR)
        from bench.__main__ import main as bench_main

        extra = ["--quick"] if args.quick else []
        extra += ["--only", *args.only] if args.only else []
        extra += ["--out", args.out] if args.out else []
        return bench_main(extra)
    if args.command == "demo":  # its own settings too: a token or database of yours is not needed, nor used
        from bot.demo import run_demo

        return run_demo(directory=args.dir, interactive=args.interactive, example=args.example, postgres=args.postgres)
    moments = _backtest_range(args) if args.command == "backtest" else None
    if isinstance(moments, int):
        return moments
    if moments is not None:  # a detector failing at some step is an episode of the replay, not a log line
        logging.getLogger().setLevel(logging.ERROR)
    from ops.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    from bot import redact
    from ops.redaction import configured_secrets

    redact.install(configured_secrets(settings))
    if args.command == "migrate":
        return _reachable(settings) or asyncio.run(_migrate(settings))
    from ops.config_file import ConfigRejected, read_config

    path = getattr(args, "path", None) or getattr(args, "config", None) or settings.opsbot_config
    try:
        file = read_config(settings, path)
    except ConfigRejected as exc:
        print(exc.text, file=sys.stderr)
        return EXIT_CONFIG
    for line in file.warnings:  # check-config says them; run and sweep log them
        if args.command == "check-config":
            print(f"warning: {line}", file=sys.stderr)
        else:
            logging.getLogger("opsbot").warning(line)
    config = file.config
    if args.command == "check-config":
        print(f"{path}: ok — {len(config.detectors)} detector(s), {len(config.targets)} target(s)")
        return EXIT_OK
    if args.command == "sweep":
        return _reachable(settings) or asyncio.run(_sweep(settings, config, as_json=args.json))
    if moments is not None:  # opsbot's own database is not needed, nor opened: the replay has one of its own
        from bot.commands.backtest import backtest_command

        start, end = moments
        return asyncio.run(backtest_command(settings, config, args.detector, start, end, as_json=args.json))
    return _reachable(settings) or _run(settings, file)


def _backtest_range(args: argparse.Namespace) -> tuple[datetime, datetime] | int:
    """`--from` and `--to` as naive UTC, or EXIT_CONFIG after one line saying what is wrong."""
    from bot.commands.backtest import parse_moment
    from ops.backtest import BacktestError

    given = (("--detector", args.detector), ("--from", args.start), ("--to", args.end))
    missing = [flag for flag, value in given if not value]
    if missing:
        example = "e.g. --detector NAME --from 2026-10-01 --to 2026-11-01"
        print(f"backtest: {', '.join(missing)} missing ({example})", file=sys.stderr)
        return EXIT_CONFIG
    try:
        start, end = parse_moment(args.start, "--from"), parse_moment(args.end, "--to")
    except BacktestError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if start >= end:
        print(f"backtest: --from ({args.start}) must be before --to ({args.end})", file=sys.stderr)
        return EXIT_CONFIG
    return start, end


def _reachable(settings: Settings) -> int:
    """0 once opsbot's database answers; EXIT_CONFIG after one line saying why it does not."""
    from ops.storage.db import DatabaseUnavailable, wait_for_database

    def waiting(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        asyncio.run(wait_for_database(settings.database_url, settings.database_wait, on_waiting=waiting))
    except DatabaseUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


async def _migrate(settings: Settings) -> int:
    from ops.storage.db import create_engine, current_revision, migrate

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        print(f"database at revision {await current_revision(engine)}")
    finally:
        await engine.dispose()
    return EXIT_OK


async def _sweep(settings: Settings, config: OpsConfig, *, as_json: bool) -> int:
    from ops.runtime import OpsCore

    core = OpsCore.build(settings, config)
    try:
        await core.migrate()
        report = await core.sweeper.sweep()
    finally:
        await core.close()
    if as_json:
        print(json.dumps([r.as_dict() for r in report.results], indent=2))
    else:
        print(_table(report.results))
    return EXIT_OK if report.all_ok else EXIT_FAILING


def _table(results: list) -> str:
    rows = [("DETECTOR", "KEY", "OK", "SEVERITY", "VALUE", "MESSAGE")]
    for r in results:
        value = "" if r.value is None else f"{r.value:g}"
        rows.append((r.detector, r.key, "yes" if r.ok else "NO", r.severity.value, value, r.message))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + str(row[5]) for row in rows
    )


def _run(settings: Settings, file: ConfigFile) -> int:
    from bot.app import OpsBotApp
    from ops.settings import SettingsError
    from ops.storage.single import AlreadyRunning, hold_sqlite

    try:
        lock = hold_sqlite(settings.database_url)  # kept open for the life of the process
    except AlreadyRunning as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    app = OpsBotApp(settings, file.config, config_path=file.path, config_digest=file.digest)
    if app.headless:
        print("BOT_TOKEN is not set: running headless — detectors and alerts run, notifications wait in the outbox.")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, app.reload_soon)  # re-read the settings and the config file
        await app.run_forever(stop)

    try:
        asyncio.run(serve())
    except SettingsError as exc:  # found at start: a port in use, a BOT_TOKEN Telegram refuses, …
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if lock is not None:
        lock.close()
    if app.fatal is not None:  # found later, and it stopped the process (a BOT_TOKEN refused once reachable)
        print(app.fatal, file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
