"""Every example detector fires on its broken sample data and passes on the healthy one —
marketplace on SQLite, trading-pipeline and devdiag on the PostgreSQL server. And an example copied to a
folder of its own, as the README says, checks and sweeps green there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from sqlalchemy import select

from examples import HERE, NAMES, get
from examples.marketplace import latency_app, seed_pings
from helpers import make_settings
from ops.config import load_config
from ops.runtime import OpsCore
from ops.storage.tables import alerts_history

STATES = ("healthy", "broken")


async def fired_and_failing(
    example_name: str, target_url: str, tmp_path: Path, extra_env: dict[str, str], state: str
) -> tuple[set[str], set[str], set[str]]:
    """Sweep an example config until `for` is satisfied; return (detectors, failing, firing)."""
    example = get(example_name)
    settings = make_settings(tmp_path / f"ops-{state}.db", alert_chat_ids=[-1001])
    env = {**settings.config_env(), **os.environ, **example.module.env(target_url), **extra_env}
    config = load_config(example.config, env=env)
    core = OpsCore.build(settings, config)
    await core.migrate()
    if example_name == "marketplace":
        await seed_pings(settings.database_url, state)
    try:
        failing: set[str] = set()
        for _ in range(max(d.for_ for d in config.detectors) + 1):  # metrics need a second scrape, `for` its count
            report = await core.sweeper.sweep()
            failing = {r.detector for r in report.results if not r.ok}
        async with core.db.connect() as conn:
            firing = {
                r.source
                for r in await conn.execute(select(alerts_history.c.source).where(alerts_history.c.status == "firing"))
            }
        errors = [r.message for r in report.results if r.status.value == "error"]
        assert not errors, errors
        return {d.name for d in config.detectors}, failing, firing
    finally:
        await core.close()


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/metrics"  # type: ignore[union-attr]


@pytest.mark.parametrize("state", STATES)
async def test_marketplace_on_sqlite(tmp_path: Path, state: str) -> None:
    shop = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    await get("marketplace").module.seed(shop, state)
    runner, metrics_url = await serve(latency_app(state))
    try:
        names, failing, firing = await fired_and_failing(
            "marketplace", shop, tmp_path, {"APP_METRICS_URL": metrics_url, "DB_GROWTH_LIMIT": "512KB"}, state
        )
    finally:
        await runner.cleanup()
    if state == "broken":
        assert failing == names and firing == names
    else:
        assert failing == set() and firing == set()


@pytest.mark.parametrize("name", ["trading-pipeline", "devdiag"])
@pytest.mark.parametrize("state", STATES)
async def test_postgres_examples(pg_database: str, tmp_path: Path, name: str, state: str) -> None:
    await get(name).module.seed(pg_database, state)
    names, failing, firing = await fired_and_failing(name, pg_database, tmp_path, {}, state)
    if state == "broken":
        assert failing == names and firing == names
    else:
        assert failing == set() and firing == set()


async def test_fix_repairs_the_story_detector(pg_database: str, tmp_path: Path) -> None:
    module = get("trading-pipeline").module
    await module.seed(pg_database, "broken")
    fixed = await module.fix(pg_database)
    _, failing, _ = await fired_and_failing("trading-pipeline", pg_database, tmp_path, {}, "broken")
    assert fixed == "telemetry_lag" and fixed not in failing


def _clean_env() -> dict[str, str]:
    """What a new user's shell has: none of opsbot's settings."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "PYTHONPATH", "LANG") if k in os.environ}


def copy_example(name: str, folder: Path) -> None:
    """As the README says: the config as opsbot.yaml, and the runbooks it names next to it."""
    folder.mkdir()
    shutil.copy(HERE / f"{name}.yaml", folder / "opsbot.yaml")
    shutil.copytree(HERE / "runbooks", folder / "runbooks")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("name", NAMES)
def test_a_copied_example_passes_check_config(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "myops"
    copy_example(name, folder)
    env = {
        **_clean_env(),
        "SHOP_URL": "sqlite+aiosqlite:///shop.db",
        "APP_METRICS_URL": "http://127.0.0.1:8000/metrics",
        "PIPELINE_DB_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/pipeline",
        "DEVDIAG_DB_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/devdiag",
    }
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "opsbot.yaml: ok" in run.stdout, run.stdout


@pytest.mark.sqlite_only
def test_a_copied_marketplace_sweeps_green_on_healthy_data_with_the_shipped_metrics_server(tmp_path: Path) -> None:
    folder = tmp_path / "myops"
    copy_example("marketplace", folder)
    env = _clean_env()
    server = subprocess.Popen(
        [sys.executable, "-m", "examples", "serve-metrics", "--port", "0"],
        cwd=folder,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/metrics", banner)
        assert found, banner
        seed = [sys.executable, "-m", "examples", "marketplace", "--state", "healthy"]
        seed += ["--url", "sqlite+aiosqlite:///shop.db", "--metrics-url", found.group(0)]
        printed = subprocess.run(seed, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
        assert printed.returncode == 0, printed.stderr
        lines = printed.stdout.splitlines()
        assert lines and all(re.fullmatch(r"export [A-Z_]+=\S+", line) for line in lines), printed.stdout
        assert f"export SHOP_URL=sqlite+aiosqlite:///{folder / 'shop.db'}" in lines

        python = sys.executable
        script = f'eval "$({" ".join(seed)})" && {python} -m bot.cli check-config && {python} -m bot.cli sweep --once'
        run = subprocess.run(["sh", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        out = run.stdout.splitlines()
        assert "opsbot.yaml: ok — 12 detector(s), 1 target(s)" in out[0]
        table = out[next(i for i, line in enumerate(out) if line.startswith("DETECTOR")) + 1 :]
        names = {d["name"] for d in yaml.safe_load((folder / "opsbot.yaml").read_text())["detectors"]}
        assert {row.split()[0] for row in table} == names  # every detector ran, and passed (exit 0)
    finally:
        server.terminate()
        assert server.wait(timeout=10) == 0
