"""The console: a Telegram Mini App at /app on opsbot's own HTTP server, and its JSON under /app/api/.

The page (`static/`: plain HTML, CSS and JavaScript, nothing fetched from elsewhere) holds no data: each
`/app/api/*` request proves who asks with `Authorization: tma <initData>` (Telegram's signed launch data,
see `bot.console.initdata`) or with the session cookie a one-time login link set (`/console` in a private
chat). Anything else is 401 with one line and nothing more. What a person sees and may do is decided per
request (`bot.console.viewers`); actions go through the services the buttons use and are recorded as events
with the person's Telegram id, so an ack here edits the alert's cards in the chats as a press of ✅ Ack does.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.console.initdata import verify
from bot.console.viewers import Viewer, Viewers
from ops.engine.silences import Previewed, parse_matcher
from ops.engine.stages import Silence
from ops.health import LastCheck
from ops.incidents.read import IncidentGroup
from ops.model import Incident, IncidentStatus
from ops.runtime import OpsCore
from ops.storage.console import LOGIN, SESSION, ConsoleTokens, TokenOwner
from ops.timeutil import parse_duration

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
ASSETS = {"app.js": "text/javascript", "app.css": "text/css", "icon.svg": "image/svg+xml"}
COOKIE = "opsbot_console"
LOGIN_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=12)
HISTORY_HOURS = 48  # a detector's sparkline
LIST_ALERTS = 20  # alerts per incident in the list of open incidents; the incident's page has all
MAX_SLO_DAYS = 90
MAX_BODY = 64 * 1024  # bytes of a POST's JSON: a silence form is a few hundred
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
UNAUTHORIZED = "open the console from Telegram (🖥 Console), or log in with a link from /console"
# The page runs only its own script and style; it may be framed (Telegram Web shows Mini Apps in a frame).
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"

Handler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


def _iso(ts: datetime | None) -> str | None:
    """Stored times are naive UTC; the page gets them with their offset."""
    if ts is None:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


class Refused(Exception):
    """A request the console answers with one JSON error line (bad input found deep in a handler)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _number(raw: str) -> int | None:
    """An id in a path: ASCII digits, at most 9 of them (None: not one)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


@dataclass
class ConsoleAccess:
    """How a request proves who asks: Telegram's initData (checked with BOT_TOKEN), or a session cookie."""

    token: str
    tokens: ConsoleTokens
    clock: Callable[[], datetime]

    async def owner(self, request: web.Request) -> TokenOwner | None:
        header = request.headers.get("Authorization", "")
        if header:
            if not header.startswith("tma "):
                return None
            user = verify(self.token, header[4:].strip(), self.clock())
            return TokenOwner(user.id, user.name) if user is not None else None
        session = request.cookies.get(COOKIE, "")
        if not session or len(session) > 200:
            return None
        return await self.tokens.session(session, self.clock())


class Console:
    def __init__(self, core: OpsCore, viewers: Viewers, token: str, public_url: str) -> None:
        self.core = core
        self.viewers = viewers
        self.tokens = ConsoleTokens(core.db)
        self.access = ConsoleAccess(token, self.tokens, core.clock)
        self.secure_cookie = public_url.startswith("https://")
        self.public_host = urlsplit(public_url).netloc.lower()

    # -- routes -----------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/app", self.index)
        r.add_get("/app/", self.index)
        r.add_get("/app/static/{name}", self.asset)
        r.add_get("/app/login", self.login)
        api = "/app/api"
        r.add_get(f"{api}/me", self._guard(self.me))
        r.add_post(f"{api}/logout", self._guard(self.logout))
        r.add_get(f"{api}/incidents", self._guard(self.incidents))
        r.add_get(f"{api}/incidents/{{id}}", self._guard(self.incident))
        r.add_post(f"{api}/incidents/{{id}}/ack", self._guard(self.ack_incident))
        r.add_post(f"{api}/incidents/{{id}}/silence", self._guard(self.silence_incident))
        r.add_post(f"{api}/alerts/{{id}}/ack", self._guard(self.ack_alert))
        r.add_get(f"{api}/detectors", self._guard(self.detectors))
        r.add_get(f"{api}/slos", self._guard(self.slos))
        r.add_get(f"{api}/silences", self._guard(self.silences))
        r.add_post(f"{api}/silences", self._guard(self.create_silence))
        r.add_post(f"{api}/silences/preview", self._guard(self.preview_silence))
        r.add_post(f"{api}/silences/{{id}}/expire", self._guard(self.expire_silence))
        r.add_get(f"{api}/runs", self._guard(self.runs))
        r.add_route("*", f"{api}/{{rest:.*}}", self._guard(self.not_found))

    def _guard(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                owner = await self.access.owner(request)
                if owner is None:
                    return _error(401, UNAUTHORIZED)
                if self._cross_site(request):
                    return _error(403, "refused: this request came from another site's page")
                viewer = await self.viewers.viewer(owner.user_id, owner.name)
                if viewer is None:
                    return _error(403, "you are in no alert chat of this bot, so the console has nothing for you")
                response = await handler(request, viewer)
            except Refused as refused:
                response = _error(refused.status, refused.message)
            except web.HTTPException:
                raise
            except Exception:  # logged here, never shown
                log.exception("console %s %s failed", request.method, request.path)
                return _error(500, "internal error; it has been logged")
            response.headers["Cache-Control"] = "no-store"
            return response

        return guarded

    def _cross_site(self, request: web.Request) -> bool:
        """A POST riding on the session cookie from a page that is not the console's own (another site, or a
        sibling host of the same site, to which SameSite=Strict still sends the cookie). initData travels in
        a header no other page can set, so only cookie requests are checked; a client that sends neither
        Origin nor Sec-Fetch-Site (not a browser) is not a forged page."""
        if request.method in SAFE_METHODS or request.headers.get("Authorization"):
            return False
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            return True
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        host = urlsplit(origin).netloc.lower() if origin != "null" else ""
        return not host or host not in (request.host.lower(), self.public_host)

    # -- the page -----------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/app":
            raise web.HTTPFound("/app/")
        return self._file("index.html", "text/html")

    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return self._file(name, ASSETS[name])

    def _file(self, name: str, content_type: str) -> web.Response:
        response = web.Response(body=(STATIC / name).read_bytes(), content_type=content_type, charset="utf-8")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-cache"
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        """A one-time link from /console: used up now, it opens a session (a cookie) and shows the console.
        A HEAD (a link checker's or previewer's) learns nothing and uses nothing up."""
        if request.method == "HEAD":
            return web.Response(status=200, headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})
        token = request.query.get("token", "")
        owner = await self.tokens.redeem_login(token, self.core.clock()) if 0 < len(token) <= 200 else None
        if owner is None:
            text = "This login link was used already or has expired (links last 10 minutes). Send /console again.\n"
            return web.Response(status=401, text=text, headers={"Referrer-Policy": "no-referrer"})
        session = await self.tokens.issue(SESSION, owner, self.core.clock(), SESSION_LIFETIME)
        response = web.Response(status=303, headers={"Location": "/app/"})
        response.set_cookie(
            COOKIE,
            session,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path="/app",
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie,
        )
        response.headers["Referrer-Policy"] = "no-referrer"  # the token never leaves in a Referer
        response.headers["Cache-Control"] = "no-store"  # a session's cookie is nobody's to cache
        return response

    async def login_link(self, owner: TokenOwner) -> str:
        """A new one-time login token for `owner` (the path and query of the link /console sends)."""
        token = await self.tokens.issue(LOGIN, owner, self.core.clock(), LOGIN_LIFETIME)
        return f"/app/login?token={token}"

    # -- who -----------------------------------------------------------------------------------
    async def me(self, _request: web.Request, viewer: Viewer) -> web.Response:
        return _json({"id": viewer.user_id, "name": viewer.name, "admin": viewer.admin, "sees_all": viewer.sees_all})

    async def logout(self, request: web.Request, _viewer: Viewer) -> web.Response:
        session = request.cookies.get(COOKIE, "")
        if session:
            await self.tokens.end_session(session, self.core.clock())
        response = _json({"status": "ok"})
        response.del_cookie(COOKIE, path="/app")
        return response

    async def not_found(self, _request: web.Request, _viewer: Viewer) -> web.Response:
        return _error(404, "no such endpoint")

    # -- what a viewer may see -------------------------------------------------------------------
    async def _visible(self, viewer: Viewer, alert_ids: list[int]) -> set[int]:
        if viewer.sees_all:
            return set(alert_ids)
        seen: set[int] = set()
        for chat in viewer.chats:
            seen |= await self.core.scoping.visible_alerts(alert_ids, chat, False)
        return seen

    async def _group(self, viewer: Viewer, raw_id: str) -> IncidentGroup | None:
        number = _number(raw_id)
        if number is None:
            return None
        record = await self.core.incident_log.get(number)
        if record is None or not await self._visible(viewer, [a.id for a in record.incident.alerts]):
            return None
        return record.incident

    def _alert(self, alert: Incident) -> dict[str, Any]:
        return {
            "id": alert.id,
            "source": alert.source,
            "key": alert.key,
            "fingerprint": alert.short_fingerprint,
            "severity": alert.severity.value,
            "state": alert.status.value,
            "message": alert.message[:500],
            "opened_at": _iso(alert.opened_at),
            "acknowledged_by": alert.acknowledged_by,
            "resolved_at": _iso(alert.resolved_at),
            "muted": {"kind": alert.muted.kind.value, "by": alert.muted.by} if alert.muted else None,
        }

    def _summary(self, group: IncidentGroup, alerts: int | None = None) -> dict[str, Any]:
        """`alerts`: at most that many of its alerts (the list of open incidents in a storm stays small;
        `alerts_total` says how many there are)."""
        now = self.core.clock()
        return {
            "id": group.id,
            "title": group.title,
            "severity": group.severity.value,
            "state": group.status.value,
            "opened_at": _iso(group.opened_at),
            "age_s": max(0, int((now - group.opened_at).total_seconds())),
            "acknowledged_by": group.acknowledged_by,
            "resolved_at": _iso(group.resolved_at),
            "detectors": group.detectors,
            "alerts": [self._alert(a) for a in group.alerts[:alerts]],
            "alerts_total": len(group.alerts),
        }

    async def incidents(self, _request: web.Request, viewer: Viewer) -> web.Response:
        groups = await self.core.incident_log.open()
        seen = await self._visible(viewer, [a.id for g in groups for a in g.alerts])
        mine = [g for g in groups if any(a.id in seen for a in g.alerts)]
        ordered = sorted(mine, key=lambda g: (-g.severity.rank, g.id))
        return _json([self._summary(g, alerts=LIST_ALERTS) for g in ordered])

    async def incident(self, request: web.Request, viewer: Viewer) -> web.Response:
        group = await self._group(viewer, request.match_info["id"])
        record = await self.core.incident_log.get(group.id) if group is not None else None
        if record is None:
            return _error(404, "no such incident here")
        body = self._summary(record.incident)
        body["timeline"] = [
            {"at": _iso(e.at), "kind": e.kind, "actor": e.actor, "detector": e.detector, "detail": e.detail[:500]}
            for e in record.timeline
        ]
        return _json(body)

    # -- actions ------------------------------------------------------------------------------------
    async def _ack(self, viewer: Viewer, alert: Incident) -> str:
        incidents = self.core.incidents
        where = viewer.chat_id
        await incidents.record("pressed:ack", viewer.actor, incident_id=alert.id, chat_id=where, detail="console")
        result = await incidents.acknowledge(alert.id, viewer.actor, viewer.chat_id)
        return result.outcome.value

    async def ack_alert(self, request: web.Request, viewer: Viewer) -> web.Response:
        alert_id = _number(request.match_info["id"]) or 0
        alert = await self.core.incidents.get(alert_id) if await self._visible(viewer, [alert_id]) else None
        if alert is None:
            await self.core.incidents.record("refused", viewer.actor, detail="console ack: unknown alert")
            return _error(404, "no such alert here")
        return _json({"id": alert.id, "outcome": await self._ack(viewer, alert)})

    async def ack_incident(self, request: web.Request, viewer: Viewer) -> web.Response:
        group = await self._group(viewer, request.match_info["id"])
        if group is None:
            await self.core.incidents.record("refused", viewer.actor, detail="console ack: unknown incident")
            return _error(404, "no such incident here")
        seen = await self._visible(viewer, [a.id for a in group.alerts])
        firing = [a for a in group.alerts if a.status is IncidentStatus.firing and a.id in seen]
        done = {a.id: await self._ack(viewer, a) for a in firing}
        return _json({"id": group.id, "acknowledged": [i for i, o in done.items() if o == "done"]})

    def _refuse_non_admin(self, viewer: Viewer, what: str) -> web.Response | None:
        if viewer.admin:
            return None
        return _error(403, f"only admins can {what}")

    async def _refused(self, viewer: Viewer, what: str) -> web.Response | None:
        refusal = self._refuse_non_admin(viewer, what)
        if refusal is not None:
            await self.core.incidents.record("refused", viewer.actor, detail=f"console {what}: not an admin")
        return refusal

    async def silence_incident(self, request: web.Request, viewer: Viewer) -> web.Response:
        """🔕 for 1h each open alert of the incident, as its cards' 🔕 Silence 1h buttons would."""
        if (refusal := await self._refused(viewer, "silence alerts")) is not None:
            return refusal
        group = await self._group(viewer, request.match_info["id"])
        if group is None:
            return _error(404, "no such incident here")
        made = []
        for alert in (a for a in group.alerts if a.is_open):
            await self.core.incidents.record("pressed:silence", viewer.actor, incident_id=alert.id, detail="console")
            silence, _ = await self.core.chat_silences.create(
                chat_id=viewer.chat_id,
                kind="fingerprint",
                value=alert.fingerprint,
                label=None,
                seconds=3600,
                incident_id=None,
                reason="🖥 Console: silence 1h",
                actor=viewer.actor,
            )
            made.append(silence.id)
        return _json({"id": group.id, "silences": made})

    # -- silences ----------------------------------------------------------------------------------
    def _silence(self, s: Silence) -> dict[str, Any]:
        return {
            "id": s.id,
            "target": s.target,
            "ends_at": _iso(s.ends_at),
            "until_resolved": s.ends_at is None,
            "reason": s.reason or "",
            "created_by": s.created_by or "",
            "created_at": _iso(s.created_at),
        }

    async def silences(self, _request: web.Request, viewer: Viewer) -> web.Response:
        chat_silences = self.core.chat_silences
        if viewer.sees_all:
            found = await chat_silences.silences_for(0, True)
        else:
            by_id = {s.id: s for chat in viewer.chats for s in await chat_silences.silences_for(chat, False)}
            found = [by_id[i] for i in sorted(by_id)]
        return _json([self._silence(s) for s in found])

    async def _form(self, request: web.Request) -> dict[str, str]:
        """The POST's JSON object, its values as short strings; Refused (400, 413) for anything else."""
        too_big = Refused(413, f"the body is over {MAX_BODY // 1024} KiB; a form is a few hundred bytes")
        if (request.content_length or 0) > MAX_BODY:
            raise too_big
        raw = bytearray()
        while len(raw) <= MAX_BODY:  # a chunked body has no length: read no more than the limit and a byte
            chunk = await request.content.read(MAX_BODY + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
        if len(raw) > MAX_BODY:
            raise too_big
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser's depth
            body = None
        if not isinstance(body, dict):
            raise Refused(400, "expected a JSON object")
        return {str(k): str(v)[:300] for k, v in body.items() if v is not None}

    def _previewed(self, found: list[Previewed]) -> list[dict[str, Any]]:
        return [
            {
                "id": p.alert.id,
                "source": p.alert.source,
                "key": p.alert.key,
                "severity": p.alert.severity.value,
                "state": p.alert.status,
                "mutes": p.mutes,
                "muted_now": {"kind": p.alert.mute.kind.value, "by": p.alert.mute.by} if p.alert.mute else None,
            }
            for p in found
        ]

    async def preview_silence(self, request: web.Request, viewer: Viewer) -> web.Response:
        if (refusal := self._refuse_non_admin(viewer, "silence alerts")) is not None:
            return refusal
        target = (await self._form(request)).get("target", "").strip()
        matcher = parse_matcher(target, self.core.current.config)
        if matcher is None:
            return _error(422, "expected a detector name, #fingerprint or label=value")
        found = await self.core.silences.preview(matcher)
        return _json({"target": target, "alerts": self._previewed(found)})

    async def create_silence(self, request: web.Request, viewer: Viewer) -> web.Response:
        if (refusal := await self._refused(viewer, "silence alerts")) is not None:
            return refusal
        form = await self._form(request)
        target = form.get("target", "").strip()
        matcher = parse_matcher(target, self.core.current.config)
        if matcher is None:
            return _error(422, "expected a detector name, #fingerprint or label=value")
        try:
            seconds = parse_duration(form.get("duration", "").strip())
        except ValueError:
            seconds = 0
        if not 60 <= seconds <= 90 * 86400:
            return _error(422, "the duration must be 1m to 90d, e.g. 2h")
        silence, muted = await self.core.chat_silences.create(
            chat_id=viewer.chat_id,
            kind=matcher.kind,
            value=matcher.value,
            label=matcher.label,
            seconds=seconds,
            incident_id=None,
            reason=form.get("reason", "").strip() or "silenced from the console",
            actor=viewer.actor,
        )
        return _json({"silence": self._silence(silence), "muted": muted}, 201)

    async def expire_silence(self, request: web.Request, viewer: Viewer) -> web.Response:
        if (refusal := await self._refused(viewer, "end silences")) is not None:
            return refusal
        silence_id = _number(request.match_info["id"])
        back = await self.core.chat_silences.expire(silence_id, viewer.actor) if silence_id is not None else None
        if back is None:
            return _error(404, "no such active silence")
        return _json({"id": silence_id, "back": back})

    # -- detectors, SLOs, runs -----------------------------------------------------------------------
    async def detectors(self, _request: web.Request, viewer: Viewer) -> web.Response:
        report = await self.core.health.health()
        since = (self.core.clock() - timedelta(hours=HISTORY_HOURS)).replace(minute=0, second=0, microsecond=0)
        history = await self.core.health.hourly(since)
        open_ids = [a.id for d in report.detectors for a in d.open_incidents]
        seen = await self._visible(viewer, open_ids)
        # A check's key and message are shown to whoever sees everything, else only where an open alert of
        # it was sent to one of their chats (/health in a chat shows other chats' checks as counts only).
        shown = {(d.name, a.key) for d in report.detectors for a in d.open_incidents if a.id in seen}
        every = self.core.settings.sweep_interval_sec

        def check(name: str, c: LastCheck) -> dict[str, Any]:
            mine = viewer.sees_all or (name, c.key) in shown
            return {
                "key": c.key if mine else None,
                "status": c.status,
                "ok": c.ok,
                "message": c.message[:300] if mine else "",
                "at": _iso(c.ts),
            }

        return _json(
            [
                {
                    "name": d.name,
                    "kind": d.config.kind,
                    "severity": d.config.severity.value,
                    "every_s": d.config.interval(every),
                    "last": [check(d.name, c) for c in d.last[:20]],
                    "firing": sum(1 for a in d.open_incidents if a.id in seen),
                    "history": [{"hour": _iso(h), "good": g, "total": t} for h, g, t in history.get(d.name, [])],
                }
                for d in report.detectors
            ]
        )

    async def slos(self, _request: web.Request, _viewer: Viewer) -> web.Response:
        reader = self.core.slo_reader
        out = []
        for status in await reader.statuses():
            days = min(MAX_SLO_DAYS, max(1, math.ceil(status.window / 86400)))
            daily = await reader.daily(status.config, days)
            out.append(
                {
                    "name": status.name,
                    "objective": status.objective,
                    "window_s": status.window,
                    "good": status.good,
                    "total": status.total,
                    "sli": status.sli,
                    "budget_remaining": status.budget_remaining,
                    "state": status.state,
                    "burn": status.burn,
                    "daily": [{"day": d.isoformat(), "good": g, "total": t} for d, g, t in daily],
                }
            )
        return _json(out)

    async def runs(self, _request: web.Request, viewer: Viewer) -> web.Response:
        scope = None if viewer.sees_all else self.core.scoping.sent_to_any(list(viewer.chats))
        found = await self.core.remediation.recent_runs(30, incidents=scope)
        return _json(
            [
                {
                    "id": r.id,
                    "action": r.action,
                    "alert_id": r.incident_id,
                    "trigger": r.trigger,
                    "actor": r.actor,
                    "status": r.status,
                    "attempts": r.attempts,
                    "started_at": _iso(r.started_at),
                    "duration_ms": r.duration_ms,
                    "error": (r.last_error or "")[:500],
                }
                for r in found
            ]
        )
