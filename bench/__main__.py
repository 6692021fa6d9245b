"""`python -m bench [--quick]` (or `opsbot bench`): every benchmark scenario, a table, bench/results.json.

Scenarios: 1 storm vs Alertmanager under Telegram's limits, 2 detection latency, 3 sweep and engine
throughput, 4 console over a long history, 5 peak memory of `opsbot run`, 6 the public status page read by
200 concurrent clients while alerts are delivered, 7 `opsbot backtest` over five months of a 5-minute
series. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.backtest import backtest_speed
from bench.console import console
from bench.latency import detection_latency
from bench.memory import peak_rss
from bench.status import status_page_load
from bench.storm import ALERTMANAGER, storm_alertmanager, storm_opsbot
from bench.sweep import sweep_and_engine

RESULTS = Path(__file__).resolve().parent / "results.json"
FULL = {
    "storm": 1000,
    "am_timeout": 120.0,
    "latency": 200,
    "sweep": 1000,
    "checks": 1_000_000,
    "incidents": 100_000,
    "console_runs": 50,
    "memory_detectors": 1000,
    "memory_s": 120.0,
    "status_s": 20.0,
    "backtest_days": 155,
}
QUICK = {"storm": 200, "am_timeout": 20.0, "latency": 20, "sweep": 200, "checks": 50_000,
         "incidents": 5_000, "console_runs": 5, "memory_detectors": 100, "memory_s": 10.0, "status_s": 3.0,
         "backtest_days": 40}  # fmt: skip
SCENARIOS = ("storm", "latency", "sweep", "console", "memory", "status", "backtest")


def machine() -> dict[str, Any]:
    am = None
    if shutil.which(ALERTMANAGER):
        out = subprocess.run([ALERTMANAGER, "--version"], capture_output=True, text=True, check=False)
        am = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "opsbot": version("opsbot"),
        "aiogram": version("aiogram"),
        "sqlalchemy": version("sqlalchemy"),
        "alertmanager": am,
    }


async def run(quick: bool, only: list[str]) -> dict[str, Any]:
    size = QUICK if quick else FULL
    out: dict[str, Any] = {"quick": quick, "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if "storm" in only:
        n = size["storm"]
        storms = [
            await storm_opsbot(n, "keys", 60.0),
            await storm_opsbot(n, "detectors", 60.0),
            await storm_alertmanager(n, "alertname", size["am_timeout"]),
            await storm_alertmanager(n, "chat", size["am_timeout"]),
        ]
        out["storm"] = [s.row() for s in storms if s is not None]
        if None in storms:
            out["storm_note"] = f"{ALERTMANAGER} is not installed: no Alertmanager side"
    if "latency" in only:
        out["latency"] = await detection_latency(size["latency"])
    if "sweep" in only:
        out["sweep"] = await sweep_and_engine(size["sweep"])
    if "console" in only:
        out["console"] = await console(size["checks"], size["incidents"], size["console_runs"])
    if "memory" in only:
        out["memory"] = await peak_rss(size["memory_detectors"], size["memory_s"])
    if "status" in only:
        out["status"] = await status_page_load(size["status_s"])
    if "backtest" in only:
        out["backtest"] = await backtest_speed(size["backtest_days"])
    return out


def table(results: dict[str, Any]) -> str:
    lines = []
    for row in results.get("storm", []):
        secs = row["seconds_to_all_visible"]
        shown = f"{secs:.1f} s" if secs is not None else "never"
        lines.append(
            f"storm  {row['system']:44s} all visible {shown:>8}"
            f"  messages {row['messages']:5d}  429s {row['refused_429']:5d}  invisible {row['invisible']:4d}"
            f"  (limits allow {row['floor_seconds']:.1f} s)"
        )
    if "latency" in results:
        r = results["latency"]
        lines.append(f"latency  {r['alerts']} alerts: p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms")
    if "sweep" in results:
        r = results["sweep"]
        lines.append(
            f"sweep  {r['detectors']} sql detectors: {r['sweep_s']:.2f} s wall, {r['sweep_cpu_s']:.2f} s CPU; "
            f"engine {r['engine_results_per_s']:,.0f} results/s"
        )
    for command, r in results.get("console", {}).items():
        if not command.startswith("_"):
            lines.append(f"console  {command:22s} p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms")
    if "memory" in results:
        r = results["memory"]
        lines.append(
            f"memory  opsbot run, {r['detectors']} detectors, {r['seconds']:.0f} s: peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    loads = (("paced", "paced"), ("flood_shared", "flood on HTTP_PORT"), ("flood", "flood on STATUS_LISTEN"))
    for mode, r in ((label, results.get("status", {}).get(m)) for m, label in loads):
        if r:
            lines.append(
                f"status  /status, {r['clients']} clients {mode}: {r['requests_per_s']:,.0f} req/s, "
                f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, errors {r['errors']}; "
                f"alerts meanwhile: {r['alerts_delivered']} delivered, p99 {r['delivery_p99_ms']:.0f} ms"
            )
    if "backtest" in results:
        r = results["backtest"]
        lines.append(
            f"backtest  {r['kind']}, {r['days']} days every 5m ({r['points']:,} points, {r['runs']:,} runs): "
            f"{r['seconds']:.1f} s wall, {r['cpu_seconds']:.1f} s CPU; engine given {r['engine_runs']:,} runs, "
            f"{r['episodes']} episodes"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opsbot bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a minute or two instead of ~10")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write the JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.quick, args.only))
    print(table(results))
    if set(args.only) != set(SCENARIOS) and args.out.exists():  # a partial run updates its scenarios only
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        if previous.get("quick") == args.quick:
            results = {**previous, **results}
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
