"""deploy/: the systemd unit passes systemd's own checks, the compose file runs two replicas on one
PostgreSQL, and the Dockerfile copies what exists and starts `opsbot run`. (No Docker daemon here: the
image itself is not built by the tests.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from ops.settings import Settings

pytestmark = pytest.mark.no_ops_db
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "opsbot.service").read_text()
    opsbot = shutil.which("opsbot")
    assert opsbot, "the project is installed, so `opsbot` is on PATH"
    local = tmp_path / "opsbot.service"  # the same unit, pointed at this machine's opsbot
    local.write_text(unit.replace("/opt/opsbot/venv/bin/opsbot", opsbot))
    result = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if "opsbot.service" in line]
    assert problems == [], result.stderr
    assert "ExecStart=/opt/opsbot/venv/bin/opsbot run" in unit and "RestartPreventExitStatus=2" in unit


def test_compose_runs_two_replicas_on_one_postgres() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    replicas = [s for name, s in services.items() if name.startswith("opsbot-")]
    assert len(replicas) == 2
    pg = services["postgres"]["environment"]
    url = f"postgresql+asyncpg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    for replica in replicas:
        assert replica["environment"]["DATABASE_URL"] == url
        assert set(replica["environment"]) <= SETTINGS
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert replica["build"]["dockerfile"] == "deploy/Dockerfile"
    assert {r["ports"][0] for r in replicas} == {"127.0.0.1:8081:8080", "127.0.0.1:8082:8080"}
    assert "healthcheck" in services["postgres"]


def test_the_dockerfile_copies_what_exists_and_runs_opsbot() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    root = DEPLOY.parent
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _dest = line.split()
        for source in sources:
            assert (root / source).exists(), source
    assert 'CMD ["opsbot", "run"]' in text and "/healthz" in text
    env = dict(re.findall(r"(\w+)=(\S+)", text.split("ENV", 1)[1].split("WORKDIR", 1)[0]))
    assert set(env) - {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR"} <= SETTINGS


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the last fails when VAR is unset or empty)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if op == ":?" and not env.get(name):
            raise LookupError(f"required variable {name} is missing a value: {arg}")
        if op == ":-" and not env.get(name):
            return arg
        return env.get(name, "")

    return re.sub(r"\$\{(\w+)(?:(:[?-])([^}]*))?\}", one, value)


def dotenv(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_compose_needs_both_ingest_tokens_before_any_container_starts() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    copied = dotenv(DEPLOY.parent / ".env.example")  # `cp .env.example deploy/.env`, as the file says
    assert {"PING_TOKEN", "ALERTMANAGER_WEBHOOK_TOKEN"} <= set(copied)  # the place to fill in is there
    for name, service in compose["services"].items():
        if name == "postgres":
            continue
        assert service["env_file"] == ".env"
        for token in ("PING_TOKEN", "ALERTMANAGER_WEBHOOK_TOKEN"):
            assert service["environment"][token].startswith(f"${{{token}:?set {token} in deploy/.env")
            with pytest.raises(LookupError, match=token):
                interpolate(service["environment"][token], copied)  # left empty: `up` refuses, says which


def compose_env(tmp_path: Path, **overrides: str) -> tuple[dict[str, str], Path]:
    """The environment a replica gets from the compose file and a copied .env.example with the tokens
    set, and the config file it mounts (the process runs here, so paths point at this machine)."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    replica = compose["services"]["opsbot-1"]
    dot = {**dotenv(DEPLOY.parent / ".env.example"), "PING_TOKEN": "p" * 48, "ALERTMANAGER_WEBHOOK_TOKEN": "a" * 48}
    env = {**dot, **{k: interpolate(str(v), dot) for k, v in replica["environment"].items()}, **overrides}
    [mount] = [v for v in replica["volumes"] if v.endswith(":/etc/opsbot/opsbot.yaml:ro")]
    config = DEPLOY / interpolate(mount.split(":/etc/opsbot/")[0], dot)
    env["OPSBOT_CONFIG"] = str(config)
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "PYTHONPATH", "LANG") if k in os.environ}
    return {**keep, **env}, config


def test_compose_checks_the_config_before_the_replicas_start() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert services["check"]["command"] == ["opsbot", "check-config"] and services["check"]["restart"] == "no"
    for name in ("opsbot-1", "opsbot-2"):
        assert services[name]["depends_on"]["check"] == {"condition": "service_completed_successfully"}
        assert services[name]["restart"] == "unless-stopped"


def test_the_config_compose_mounts_exists_and_passes_check_config(tmp_path: Path) -> None:
    env, config = compose_env(tmp_path)
    assert config.exists() and config.parent == DEPLOY
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "ok — 2 detector(s), 1 target(s)" in result.stdout


def test_a_replica_starts_green_from_the_copied_example_instead_of_a_restart_loop(
    tmp_path: Path, pg_database: str
) -> None:
    """What a container of the compose file runs, with PostgreSQL at this machine's address: it serves
    /healthz 200 with both detectors passing — nothing to exit for, so nothing to restart."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env, _ = compose_env(tmp_path, DATABASE_URL=pg_database, HTTP_PORT=str(port))
    assert env["HTTP_HOST"] == "0.0.0.0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "not green within 60s"
            try:
                health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read())
                metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                time.sleep(0.2)
                continue
            passing = [
                f'detector_checks_total{{detector="{d}",result="ok"}}'
                for d in ("opsbot_db_size", "opsbot_db_connections")
            ]
            if all(p in metrics for p in passing):
                break
            time.sleep(0.2)
        assert health["status"] == "ok" and health["scheduler"] == "running"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
