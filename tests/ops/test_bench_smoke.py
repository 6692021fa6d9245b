"""The benchmark's --quick mode runs end to end (one scenario, small), writing its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose


def test_quick_sweep_and_storm_write_results(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "sweep", "latency", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["quick"] is True and results["machine"]["cpus"]
    assert results["sweep"]["detectors"] == 201 and results["sweep"]["engine_results_per_s"] > 0
    assert results["latency"]["alerts"] == 20 and results["latency"]["refused_429"] == 0
    assert "sweep  201 sql detectors" in capsys.readouterr().out


def test_quick_status_page_load_reports_latency_and_delivery(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "status", "--out", str(out)]) == 0
    status = json.loads(out.read_text())["status"]
    for mode in ("paced", "flood_shared", "flood"):
        r = status[mode]
        assert r["clients"] == 200 and r["errors"] == 0 and r["requests"] > 200 and r["p99_ms"] > 0
        assert r["alerts_delivered"] >= 1 and r["delivery_p99_ms"] > 0
    printed = capsys.readouterr().out
    assert "status  /status, 200 clients paced" in printed and "clients flood on STATUS_LISTEN" in printed


def test_quick_backtest_replays_a_series_through_the_engine(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "backtest", "--out", str(out)]) == 0
    r = json.loads(out.read_text())["backtest"]
    assert r["days"] == 40 and r["points"] == 11521 and r["runs"] == 11521
    assert 0 < r["engine_runs"] < r["runs"] and r["episodes"] >= 1 and r["seconds"] > 0
    assert "backtest  anomaly, 40 days every 5m (11,521 points, 11,521 runs)" in capsys.readouterr().out
