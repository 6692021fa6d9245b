"""The status page as one self-contained HTML document: inline CSS (light and dark by the reader's
`prefers-color-scheme`), no script, no external resource, every text escaped. Rendered once per snapshot;
only "updated … ago" is filled in per request (`Rendered.page`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from ops.status_page.snapshot import DAYS, ComponentStatus, DayUptime, PublicIncident, Snapshot

STATE_LABEL = {"operational": "Operational", "degraded": "Degraded performance", "outage": "Outage"}
SUMMARY = {
    "operational": "All systems operational",
    "degraded": "Some systems are degraded",
    "outage": "Some systems are down",
}
_AGE = "<!--age-->"  # where the age goes: never in escaped text (its "<" would be "&lt;")

CSS = """
:root{--bg:#f6f7f9;--card:#fff;--text:#1d2330;--muted:#5d6677;--line:#e3e6eb;
--ok:#2e9d58;--warn:#d99a06;--bad:#d8433a;--none:#c9ced6}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--card:#1b1f27;--text:#e6e9ef;--muted:#9aa3b2;
--line:#2b313c;--ok:#3fb96c;--warn:#e5ab23;--bad:#ef5b52;--none:#3a414d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);
font:16px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:860px;margin:0 auto;padding:24px 16px 48px}
h1{font-size:1.6rem;margin:8px 0 16px}
h2{font-size:1.15rem;margin:32px 0 12px}
.banner{border-radius:10px;padding:14px 18px;color:#fff;font-weight:600;font-size:1.1rem}
.banner.operational{background:var(--ok)}.banner.degraded{background:var(--warn)}.banner.outage{background:var(--bad)}
.updated{color:var(--muted);font-size:.85rem;margin:8px 2px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px}
.component{padding:14px 16px;border-top:1px solid var(--line)}
.component:first-child{border-top:0}
.row{display:flex;justify-content:space-between;align-items:baseline;gap:12px;flex-wrap:wrap}
.name{font-weight:600}
.state{font-size:.9rem;font-weight:600}
.state.operational{color:var(--ok)}.state.degraded{color:var(--warn)}.state.outage{color:var(--bad)}
.bars{display:flex;gap:2px;height:34px;margin:10px 0 4px}
.bars span{flex:1;border-radius:2px;background:var(--none);min-width:2px}
.bars .operational{background:var(--ok)}.bars .degraded{background:var(--warn)}.bars .outage{background:var(--bad)}
.scale{display:flex;justify-content:space-between;color:var(--muted);font-size:.78rem}
.short{display:none}
@media (max-width:560px){.bars span:nth-child(-n+60){display:none}.long{display:none}.short{display:inline}
h1{font-size:1.35rem}}
.incident{padding:12px 16px;border-top:1px solid var(--line)}
.incident:first-child{border-top:0}
.incident .title{font-weight:600}
.incident .title.outage{color:var(--bad)}.incident .title.degraded{color:var(--warn)}
.when{color:var(--muted);font-size:.88rem}
.none{padding:14px 16px;color:var(--muted)}
footer{color:var(--muted);font-size:.8rem;margin-top:32px;text-align:center}
"""


@dataclass(frozen=True)
class Rendered:
    """A snapshot's page, split where its age goes."""

    head: str
    tail: str

    def page(self, age: str) -> bytes:
        return (self.head + escape(age) + self.tail).encode()


def age_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"


def render(snapshot: Snapshot) -> Rendered:
    e = escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>{e(snapshot.title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{e(snapshot.title)}</h1>",
        f'<div class="banner {snapshot.state}" id="overall">{SUMMARY[snapshot.state]}</div>',
        f'<p class="updated">Updated {_AGE} · {_when(snapshot.generated_at)}</p>',
        f'<h2>Components <span class="updated">· uptime over {DAYS} days</span></h2>',
        '<section class="card" id="components">',
        *(_component(c) for c in snapshot.components),
        "</section>",
        f'<h2>Incidents <span class="updated">· last {DAYS} days</span></h2>',
        '<section class="card" id="incidents">',
    ]
    if snapshot.incidents:
        parts += [_incident(i) for i in snapshot.incidents]
    else:
        parts.append(f'<div class="none">No incidents in the last {DAYS} days.</div>')
    parts.append("</section>")
    if snapshot.incidents_total > len(snapshot.incidents):
        parts.append(f'<p class="updated">{snapshot.incidents_total - len(snapshot.incidents)} older not shown.</p>')
    parts.append('<footer>Times in UTC · also as <a href="status.json">JSON</a></footer></main></body></html>')
    head, tail = "\n".join(parts).split(_AGE)
    return Rendered(head, tail)


def _component(c: ComponentStatus) -> str:
    e = escape
    uptime = f"{c.uptime_pct:.2f}% uptime" if c.uptime_pct is not None else "no data yet"
    bars = "".join(_bar(d) for d in c.days)
    return (
        f'<div class="component" data-state="{c.state}"><div class="row"><span class="name">{e(c.name)}</span>'
        f'<span class="state {c.state}">{STATE_LABEL[c.state]}</span></div>'
        f'<div class="bars" role="img" aria-label="{e(c.name)}: {uptime} over {DAYS} days">{bars}</div>'
        f'<div class="scale"><span><span class="long">{DAYS} days ago</span><span class="short">30 days ago'
        f"</span></span><span>{uptime}</span><span>Today</span></div></div>"
    )


def _bar(d: DayUptime) -> str:
    figure = f"{d.pct:.2f}%" if d.pct is not None else "no data"
    return f'<span class="{d.state}" title="{d.day.isoformat()}: {figure}"></span>'


def _incident(i: PublicIncident) -> str:
    e = escape
    end = "ongoing" if i.ended_at is None else f"resolved {_when(i.ended_at)}"
    took = "" if i.ended_at is None else f" · {_duration((i.ended_at - i.started_at).total_seconds())}"
    return (
        f'<div class="incident" data-impact="{i.impact}"><div class="title {i.impact}">{e(i.title)}</div>'
        f'<div class="when">started {_when(i.started_at)} · {end}{took}</div></div>'
    )


def _when(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"
