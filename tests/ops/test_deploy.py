"""deploy/: the systemd unit passes systemd's own checks, the compose file runs two replicas on one
PostgreSQL, and the Dockerfile copies what exists and starts `opsbot run`. (No Docker daemon here: the
image itself is not built by the tests.)"""

from __future__ import annotations

import re
import shutil
import subprocess
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
