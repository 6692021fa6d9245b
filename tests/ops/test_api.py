"""The JSON API under /api/v1/ops: auth, parameters, answers, and checked by schemathesis (a client
nobody here wrote) against its own OpenAPI document and the live server."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import annotated_types
import pytest
from aiohttp import web

from bot.app import OpsBotApp
from helpers import make_settings, make_sqlite
from ops.api import ApiServices, OpsApi
from ops.api.endpoints import ENDPOINTS
from ops.api.params import DAY_PATTERN, FIRST_DAY, LAST_DAY, AlertsParams, BadParameter, SloParams, parse
from ops.config import parse_config
from ops.model import Actor

TOKEN = "api-secret-token"
SHOP = "CREATE TABLE balances (mp TEXT, v REAL); INSERT INTO balances VALUES ('wb', -20000), ('ozon', 700);"


def config(shop: str) -> str:
    return f"""
targets: {{shop: "{shop}"}}
remediations:
  - {{name: recount, kind: shell, command: [{sys.executable}, -c, "print('recounted')"]}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT mp, v FROM balances", alert_if: "< -10000",
      severity: critical, remediation: recount}}
  - {{name: shop_size, kind: db_size, target: shop, alert_if: "> 5GB"}}
slos:
  - {{name: cash_ok, objective: 99.0, window: 7d, sli: {{detector: cash_balance}}}}
"""


async def start(
    tmp_path: Path, shop_sql: str = SHOP, make_config: Callable[[str], str] = config, **overrides: Any
) -> tuple[OpsBotApp, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    shop = make_sqlite(tmp_path / "shop.db", shop_sql)
    settings = make_settings(tmp_path / "ops.db", http_port=0, **overrides)
    app = OpsBotApp(settings, parse_config(make_config(shop)), schedule=False)
    await app.start()
    return app, f"http://127.0.0.1:{app.http_port}"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[str]:
    app, base = await start(tmp_path, api_token=TOKEN)
    yield base
    await app.stop()


async def call(method: str, url: str, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_the_api_is_off_without_a_token(tmp_path: Path) -> None:
    app, base = await start(tmp_path)
    try:
        status, body = await call("GET", f"{base}/api/v1/ops/health")
        assert status == 404 and "API_TOKEN" in body["error"]
    finally:
        await app.stop()


async def test_auth_reads_and_writes(api: str, tmp_path: Path) -> None:
    assert (await call("GET", f"{api}/api/v1/ops/health", token=None))[0] == 401
    assert (await call("GET", f"{api}/api/v1/ops/health", token="wrong"))[0] == 401
    assert (await call("POST", f"{api}/api/v1/ops/run-detectors", token="wrong"))[0] == 401
    public, base = await start(tmp_path / "p", api_token=TOKEN, api_public_read=True)
    try:
        assert (await call("GET", f"{base}/api/v1/ops/detectors", token=None))[0] == 200
        assert (await call("POST", f"{base}/api/v1/ops/run-detectors", token=None))[0] == 401
    finally:
        await public.stop()


async def test_endpoints_answer_as_the_bot_would(api: str) -> None:
    status, run = await call("POST", f"{api}/api/v1/ops/run-detectors")
    assert status == 200 and run["status"] == "completed"
    assert (run["total_checks"], run["passed"], run["failed"]) == (3, 2, 1)
    status, page = await call("GET", f"{api}/api/v1/ops/alerts?severity=critical&limit=1")
    assert status == 200 and page["total"] == 1 and page["next_cursor"] is None
    [alert] = page["alerts"]
    assert alert["source"] == "cash_balance" and alert["key"] == "wb" and alert["status"] == "firing"
    status, ack = await call("POST", f"{api}/api/v1/ops/alerts/{alert['id']}/ack")
    assert status == 200 and ack["outcome"] == "done" and ack["acknowledged_by"] == "api"
    status, ack = await call("POST", f"{api}/api/v1/ops/alerts/99999999999/ack")
    assert status == 404 and ack["error"] == "no alert 99999999999"
    status, health = await call("GET", f"{api}/api/v1/ops/health")
    assert status == 200 and health["alerts_last_hour"] == 1
    assert {d["name"]: d["firing"] for d in health["detectors"]} == {"cash_balance": 1, "shop_size": 0}
    status, rem = await call("POST", f"{api}/api/v1/ops/remediate?alert_source=cash_balance")
    assert status == 200 and rem["action_name"] == "recount" and rem["status"] == "success"
    status, summary = await call("GET", f"{api}/api/v1/ops/slo/summary?days=30")
    assert status == 200 and summary["days_analyzed"] == 30
    # The sweep's two rows, and the two of the re-check the remediation ran afterwards.
    assert {d["detector"]: d["checks"] for d in summary["detectors"]} == {"cash_balance": 4, "shop_size": 1}
    # The SLOs as /slo shows them: half of cash_balance's checks failed in the last minutes, a page.
    assert [(s["name"], s["total"], s["sli_pct"], s["state"]) for s in summary["slos"]] == [
        ("cash_ok", 4.0, 50.0, "page")
    ]
    # Per detector over the days asked for: none of today's checks count for a range ending yesterday.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    status, past = await call("GET", f"{api}/api/v1/ops/slo?date_to={yesterday}")
    assert status == 200 and past["days_analyzed"] == 7 and len(past["daily"]) == 7
    assert {d["detector"]: d["checks"] for d in past["detectors"]} == {"cash_balance": 0, "shop_size": 0}
    assert (await call("POST", f"{api}/api/v1/ops/remediate?alert_source=shop_size"))[0] == 409
    assert (await call("POST", f"{api}/api/v1/ops/remediate?alert_source=nope"))[0] == 404
    status, detectors = await call("GET", f"{api}/api/v1/ops/detectors")
    assert [d["name"] for d in detectors] == ["cash_balance", "shop_size"]


STORM_KEYS = 20
STORM_SHOP = (
    "CREATE TABLE balances (mp TEXT, v REAL); CREATE TABLE stock (sku TEXT, v REAL);"
    + "".join(f"INSERT INTO balances VALUES ('mp{i:02d}', -20000);" for i in range(STORM_KEYS))
    + "INSERT INTO stock VALUES ('a', 0), ('b', 0);"
)


def grouped_config(shop: str) -> str:
    """cash_balance's alerts share an incident (its route groups by detector); stock's are one each."""
    return f"""
targets: {{shop: "{shop}"}}
routes:
  - {{match: {{detector: cash_balance}}, chats: [-1001], group_by: [detector], group_window: 10m}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT mp, v FROM balances", alert_if: "< -10000",
      severity: critical}}
  - {{name: stock, kind: sql, target: shop, query: "SELECT sku, v FROM stock", alert_if: "< 1", severity: warning}}
slos:
  - {{name: cash_ok, objective: 99.0, window: 7d, sli: {{detector: cash_balance}}}}
"""


async def get_text(url: str) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_incidents_list_detail_and_postmortem(tmp_path: Path) -> None:
    app, api = await start(tmp_path, STORM_SHOP, grouped_config, api_token=TOKEN)
    try:
        assert (await call("POST", f"{api}/api/v1/ops/run-detectors"))[0] == 200
        status, page = await call("GET", f"{api}/api/v1/ops/incidents")
        assert status == 200 and page["next_before"] is None
        # The storm of 20 cash alerts is one incident; each of stock's two alerts is its own.
        assert [(i["detectors"], i["alert_count"], i["status"]) for i in page["incidents"]] == [
            (["stock"], 1, "firing"),
            (["stock"], 1, "firing"),
            (["cash_balance"], STORM_KEYS, "firing"),
        ]
        storm = page["incidents"][-1]
        assert storm["severity"] == "critical" and storm["title"].startswith("cash_balance")
        assert storm["resolved_at"] is None and storm["opened_at"].endswith("Z")

        # Paging back, newest first.
        status, first = await call("GET", f"{api}/api/v1/ops/incidents?status=all&limit=2")
        assert status == 200 and len(first["incidents"]) == 2 and first["next_before"] is not None
        status, rest = await call("GET", f"{api}/api/v1/ops/incidents?status=all&limit=2&before={first['next_before']}")
        assert [i["id"] for i in rest["incidents"]] == [storm["id"]] and rest["next_before"] is None
        assert (await call("GET", f"{api}/api/v1/ops/incidents?status=resolved"))[1]["incidents"] == []

        # A note and an acknowledgement join its timeline, with their authors.
        assert await app.core.incident_log.note(storm["id"], Actor(7, "@alice"), "restarted the payments db")
        _, before_ack = await call("GET", f"{api}/api/v1/ops/incidents/{storm['id']}")
        alert_id = before_ack["alerts"][0]["id"]
        assert (await call("POST", f"{api}/api/v1/ops/alerts/{alert_id}/ack"))[0] == 200
        status, detail = await call("GET", f"{api}/api/v1/ops/incidents/{storm['id']}")
        assert status == 200 and detail["status"] == "acknowledged" and detail["acknowledged_by"] == "api"
        assert sorted(a["key"] for a in detail["alerts"]) == [f"mp{i:02d}" for i in range(STORM_KEYS)]
        kinds = [e["kind"] for e in detail["timeline"]]
        assert kinds.count("joined") == STORM_KEYS and kinds.count("fired") == STORM_KEYS
        [note] = [e for e in detail["timeline"] if e["kind"] == "note"]
        assert (note["actor"], note["detail"], note["alert_id"]) == ("@alice", "restarted the payments db", None)
        [ack] = [e for e in detail["timeline"] if e["kind"] == "acknowledged"]
        assert (ack["actor"], ack["alert_id"], ack["detector"]) == ("api", alert_id, "cash_balance")
        assert [e["at"] for e in detail["timeline"]] == sorted(e["at"] for e in detail["timeline"])

        # The postmortem draft: Markdown, with the facts and the sections left for people.
        status, content_type, text = await get_text(f"{api}/api/v1/ops/incidents/{storm['id']}/postmortem")
        assert status == 200 and content_type == "text/markdown; charset=utf-8"
        assert text.startswith(f"# Postmortem: incident #{storm['id']} — cash_balance")
        for section in ("## Summary", "## Alerts involved", "## Impact", "## Notes from people", "## Timeline (UTC)"):
            assert section in text
        for section in ("## Root cause", "## What went well", "## What went wrong", "## Action items"):
            assert section in text
        assert "**Severity:** critical" in text and "restarted the payments db" in text
        assert "**cash_ok** (objective 99%)" in text
        assert text.count("| cash_balance |") == STORM_KEYS

        # Unknown incidents: 404 with the error answer, for the detail and the draft alike.
        for path in ("999999", "999999/postmortem", "99999999999", "99999999999/postmortem"):
            status, body = await call("GET", f"{api}/api/v1/ops/incidents/{path}")
            assert status == 404 and body["error"].startswith("no incident"), path
    finally:
        await app.stop()


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("GET /api/v1/ops/alerts?limit=501", "limit"),
        ("GET /api/v1/ops/alerts?severity=loud", "severity"),
        ("GET /api/v1/ops/alerts?cursor=abc", "cursor"),
        ("GET /api/v1/ops/slo?date_from=yesterday", "date_from"),
        ("GET /api/v1/ops/slo/summary?days=91", "days"),
        ("POST /api/v1/ops/remediate?alert_source=", "alert_source"),
        ("POST /api/v1/ops/alerts/x/ack", "id"),
        # Unicode digits are not numbers here: superscripts, Arabic-Indic, and doubled signs.
        ("GET /api/v1/ops/alerts?limit=²", "limit"),
        ("GET /api/v1/ops/alerts?limit=--5", "limit"),
        ("GET /api/v1/ops/alerts?limit=٥", "limit"),
        ("GET /api/v1/ops/alerts?limit=%205", "limit"),
        ("GET /api/v1/ops/alerts?cursor=²", "cursor"),
        ("GET /api/v1/ops/slo/summary?days=²", "days"),
        ("GET /api/v1/ops/slo/summary?days=٧", "days"),
        ("POST /api/v1/ops/alerts/²/ack", "id"),
        ("POST /api/v1/ops/alerts/٣/ack", "id"),
        ("GET /api/v1/ops/slo?date_to=0001-01-01", "date_to"),
        ("GET /api/v1/ops/slo?date_from=0001-01-01", "date_from"),
        ("GET /api/v1/ops/slo?date_to=20261123", "date_to"),
        ("GET /api/v1/ops/slo?date_from=٢٠٢٦-١١-٢٣", "date_from"),
        ("GET /api/v1/ops/incidents?status=closed", "status"),
        ("GET /api/v1/ops/incidents?limit=0", "limit"),
        ("GET /api/v1/ops/incidents?limit=501", "limit"),
        ("GET /api/v1/ops/incidents?before=0", "before"),
        ("GET /api/v1/ops/incidents?before=abc", "before"),
        ("GET /api/v1/ops/incidents?before=٥", "before"),
        ("GET /api/v1/ops/incidents/x", "id"),
        ("GET /api/v1/ops/incidents/-1", "id"),
        ("GET /api/v1/ops/incidents/²/postmortem", "id"),
    ],
)
async def test_a_bad_parameter_is_422_naming_it(api: str, path: str, parameter: str) -> None:
    method, rest = path.split(" ")
    status, body = await call(method, f"{api}{rest}")
    assert status == 422 and body["parameter"] == parameter and "Traceback" not in body["error"]


async def test_the_document_states_the_bounds_the_models_check(api: str) -> None:
    """One model per endpoint: /openapi.json gives each parameter's bounds as its field does, and a
    request just past one is refused naming the same number."""
    status, doc = await call("GET", f"{api}/api/v1/openapi.json", token=None)
    assert status == 200
    # /alerts and its ack are about alerts (an incident groups them: /incidents).
    assert doc["paths"]["/api/v1/ops/alerts"]["get"]["summary"] == "Alerts, newest first"
    ack = doc["paths"]["/api/v1/ops/alerts/{id}/ack"]["post"]
    assert ack["summary"] == "Acknowledge an alert" and "no such alert" in ack["responses"]["404"]["description"]
    limit = AlertsParams.model_fields["limit"]
    le = next(m.le for m in limit.metadata if isinstance(m, annotated_types.Le))
    ge = next(m.ge for m in limit.metadata if isinstance(m, annotated_types.Ge))
    [documented] = [p for p in doc["paths"]["/api/v1/ops/alerts"]["get"]["parameters"] if p["name"] == "limit"]
    assert documented["schema"] == {"type": "integer", "minimum": ge, "maximum": le, "default": limit.default}
    assert (await call("GET", f"{api}/api/v1/ops/alerts?limit={le}"))[0] == 200
    status, body = await call("GET", f"{api}/api/v1/ops/alerts?limit={le + 1}")
    assert status == 422 and body == {"error": f"limit must be an integer from {ge} to {le}", "parameter": "limit"}
    # Every bound of every endpoint, likewise.
    for endpoint in ENDPOINTS:
        operation = doc["paths"][endpoint.path][endpoint.method]
        given = {p["name"]: p for p in operation.get("parameters", [])}
        assert set(given) == set(endpoint.params.model_fields)
        for name, field in endpoint.params.model_fields.items():
            schema = given[name]["schema"]
            for kind, key in ((annotated_types.Ge, "minimum"), (annotated_types.Le, "maximum")):
                bound = next((getattr(m, kind.__name__.lower()) for m in field.metadata if isinstance(m, kind)), None)
                if schema.get("type") == "integer":
                    assert schema.get(key) == bound, (endpoint.path, name, key)


def test_the_date_pattern_takes_the_days_the_model_takes() -> None:
    """Dates have no `minimum` in JSON schema: the document's pattern keeps generated dates in range."""
    pattern = re.compile(DAY_PATTERN)
    before = (FIRST_DAY - timedelta(days=1)).isoformat()
    for day in (FIRST_DAY.isoformat(), LAST_DAY.isoformat(), before, "0001-01-01"):
        taken = True
        try:
            parse(SloParams, {"date_from": day})
        except BadParameter:
            taken = False
        assert bool(pattern.fullmatch(day)) is taken, day


async def test_every_route_served_is_documented_and_every_operation_served(tmp_path: Path) -> None:
    app, base = await start(tmp_path, api_token=TOKEN)
    try:
        _, doc = await call("GET", f"{base}/api/v1/openapi.json", token=None)
        documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
        routed = web.Application()
        OpsApi(ApiServices.of(app.core), TOKEN, False).routes(routed)
        assert {(r.method, r.resource.canonical) for r in routed.router.routes() if r.resource} == documented
        for method, path in sorted(documented):  # each answers JSON with a status its entry gives
            status, _ = await call(method, base + path.replace("{id}", "1"))
            assert str(status) in doc["paths"][path][method.lower()]["responses"], (method, path, status)
    finally:
        await app.stop()


@pytest.mark.parametrize("token", [TOKEN, None])
async def test_schemathesis_finds_nothing(api: str, token: str | None, tmp_path: Path) -> None:
    await call("POST", f"{api}/api/v1/ops/run-detectors")  # some history to answer with
    args = ["run", f"{api}/api/v1/openapi.json", "--checks", "all", "--max-examples", "15"]
    args += ["--exclude-checks", "ignored_auth,unsupported_method"]
    args += ["-H", f"Authorization: Bearer {token}"] if token else []
    cli = "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; schemathesis()"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        cli,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # its cache goes there, not into the checkout
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    assert proc.returncode == 0, out.decode()[-4000:]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) is not installed")
async def test_promtool_accepts_the_metrics_after_a_busy_minute(tmp_path: Path) -> None:
    app, base = await start(tmp_path, api_token=TOKEN)
    try:
        await call("POST", f"{base}/api/v1/ops/run-detectors")  # a sweep and an alert
        await call("POST", f"{base}/api/v1/ops/remediate?alert_source=cash_balance")  # a remediation
        await app.core.slo.evaluate()  # an SLO evaluation (it fires: half the checks failed)
        async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
            text = await resp.text()
    finally:
        await app.stop()
    for name in ("alerts_total", "auto_remediation_total", "slo_violation_total", "detector_checks_total"):
        assert name in text
    proc = await asyncio.create_subprocess_exec(
        "promtool",
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(text.encode())
    assert proc.returncode == 0, out.decode()
