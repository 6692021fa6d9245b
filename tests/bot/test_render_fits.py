"""Every message opsbot builds fits Telegram by construction, counted as Telegram counts: UTF-16 code
units of the text after its HTML is parsed. Checked with the emulator's own parser, whatever the keys,
messages and labels a target returns (long ASCII, emoji, characters that escape to entities)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from bot.emulator.html_check import parse_html, utf16_len
from bot.render.digest import MAX_ENTRIES, digest_view
from bot.render.fit import clip, esc
from bot.render.incidents import incident_pages, incidents_parts, stats_parts
from bot.render.markdown import markdown_to_html
from bot.render.notifications import Post, Reply, render
from bot.render.split import TELEGRAM_LIMIT, split_html
from bot.render.texts import alert_card, alerts_text
from ops.alert_history import AlertPage
from ops.incidents.log import IncidentRecord
from ops.incidents.read import IncidentGroup
from ops.incidents.stats import ResponseTimes, Times
from ops.incidents.timeline import Entry
from ops.model import Incident, IncidentStatus, Severity
from ops.notify import types as n
from ops.remediation.runner import RunView
from ops.slo.read import SloOverview
from ops.storage.digests import OVERNIGHT, DigestEntry

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose

NOW = datetime(2026, 11, 23, 12, 0, 0)
HOSTILE = {
    "2,000 ASCII": "k" * 2000,
    "3,000 emoji": "🔥" * 3000,
    "ampersands": "&" * 3000,
    "mixed": ("<b>🔥&amp;é" * 600),
}


def incident(key: str, message: str, n: int = 1, **extras: object) -> Incident:
    return Incident(
        id=n,
        fingerprint=f"{n:016x}",
        source="cash_balance",
        key=key,
        severity=Severity.critical,
        message=message,
        status=IncidentStatus.firing,
        opened_at=NOW - timedelta(minutes=5),
        last_notified_at=None,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
        notification_count=1,
        extras=dict(extras),
    )


def shown_units(html: str) -> int:
    return utf16_len(parse_html(html))  # raises where Telegram would refuse the HTML


@pytest.mark.parametrize("name", list(HOSTILE))
def test_cards_with_hostile_keys_messages_and_labels_fit_one_message(name: str) -> None:
    value = HOSTILE[name]
    i = incident(value, f"cash_balance[{value}] = -5 (alert if < 0)", labels={"team": value, "alertname": value})
    card, continuation = alert_card(i, NOW)
    assert utf16_len(card) <= TELEGRAM_LIMIT  # the raw HTML, never shorter than what Telegram counts
    assert shown_units(card) <= TELEGRAM_LIMIT
    assert f"#{i.short_fingerprint}" in card
    for text in continuation:  # the rest of the message, sent as replies (split by the sender)
        parse_html(text)


class Sources:
    """What renderers read besides the alert: a run whose output and error are hostile too."""

    now = NOW
    flap_settle = 600.0

    def __init__(self, value: str) -> None:
        self.value = value

    async def run(self, run_id: int) -> RunView:
        return RunView(run_id, self.value, 1, "auto", self.value, "failed", 3, NOW, 1200.0, self.value, self.value)

    async def slo(self) -> SloOverview:
        return SloOverview(window=None, slos=[], compliance=None)

    async def response_times(self, since: datetime, until: datetime) -> ResponseTimes:
        return hostile_times(self.value, since, until)


def hostile_times(value: str, since: datetime, until: datetime, detectors: int = 300) -> ResponseTimes:
    """Response times of many detectors with hostile names (each made unique by its number)."""
    times = Times(count=3, to_ack=[120.0], to_resolve=[3900.0, 60.0])
    return ResponseTimes(since, until, times, {f"{value}{k}": times for k in range(detectors)})


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_every_notification_with_hostile_text_fits(name: str) -> None:
    value = HOSTILE[name]
    i = incident(value, f"cash_balance[{value}] = -5 (alert if < 0)", labels={"team": value})
    samples = {
        n.Resolved: n.Resolved(message=value),
        n.FiredAgain: n.FiredAgain(message=value),
        n.Rechecked: n.Rechecked(action=value, passes=False, message=value),
        n.RemediationPaused: n.RemediationPaused(action=value, runs=3),
    }
    for kind in n.NOTIFICATIONS.values():
        shown = await render(samples.get(kind) or kind(), i, Sources(value))
        if isinstance(shown, Reply | Post):  # a remediation's output may take several: the sender splits it
            parts = [shown.text] if kind is not n.RemediationResult else split_html(shown.text)
            assert all(utf16_len(p) <= TELEGRAM_LIMIT and shown_units(p) <= TELEGRAM_LIMIT for p in parts), kind


def test_an_alertmanager_summary_of_2400_fire_emoji_fits_and_the_rest_continues() -> None:
    summary = "🔥" * 2400  # 2,400 characters, 4,800 UTF-16 units
    card, continuation = alert_card(incident("9f1c2a7b", summary), NOW)
    assert utf16_len(card) <= TELEGRAM_LIMIT
    shown = parse_html(card).count("🔥") + sum(parse_html(t).count("🔥") for t in continuation)
    assert shown == 2400  # nothing of it lost: what the card cannot hold continues in replies


def test_a_card_rendered_for_a_smaller_limit_fits_it() -> None:
    i = incident("k" * 150, "x" * 5000, labels={"team": "finance"})
    for limit in (3000, 2000, 1000):
        card, _ = alert_card(i, NOW, limit=limit)
        assert utf16_len(card) <= limit


@pytest.mark.parametrize("key", ["🔥" * 200, "&" * 200, "k" * 200])
def test_a_storm_digest_of_long_keys_fits_one_message(key: str) -> None:
    entries = [
        DigestEntry(incident(f"{key}{k}", f"cash_balance[{key}{k}] = -5 " + "🔥" * 400, n=k + 1), n.AlertCard())
        for k in range(MAX_ENTRIES)
    ]
    for page in range(0, MAX_ENTRIES // 5 + 1):
        text, _ = digest_view(7, entries, page)
        assert utf16_len(text) <= TELEGRAM_LIMIT and shown_units(text) <= TELEGRAM_LIMIT
    summary, _ = digest_view(7, entries, 0)
    assert summary.count("#") >= MAX_ENTRIES  # every alert still has its line
    for limit in (3000, 2000):
        text, _ = digest_view(7, entries, 0, limit=limit)
        assert utf16_len(text) <= limit


@pytest.mark.parametrize("key", ["🔥" * 200, "&" * 200, "k"])
def test_an_overnight_digest_of_many_alerts_fits_one_message(key: str) -> None:
    """500 alerts held in a night: one message, the count in its title, the rest "…and N more"."""
    entries = []
    for k in range(500):
        i = incident(f"{key}{k}", "🔥" * 400, n=k + 1)
        if k % 5 == 0:
            i = dataclasses.replace(i, status=IncidentStatus.resolved, resolved_at=NOW)
        entries.append(DigestEntry(dataclasses.replace(i, severity=Severity.warning), n.AlertCard()))
    for limit in (TELEGRAM_LIMIT, 3000, 1000):
        text, markup = digest_view(7, entries, 0, limit=limit, kind=OVERNIGHT)
        assert utf16_len(text) <= limit and shown_units(text) <= limit
        assert text.startswith("<b>🌅 Overnight: 400 warnings, 100 resolved</b>")
        shown = text.count("<code>#")
        assert f"…and {500 - shown} more" in text and "Resolved overnight" not in text  # open ones first
        assert [b.text for row in markup.inline_keyboard for b in row] == ["✅ Ack all", "📋 Details"]


def test_alerts_lines_are_bounded_whatever_the_keys() -> None:
    page = AlertPage([incident("🔥" * 3000, "m", n=n) for n in range(1, 51)], 50, 0, 50)
    text = alerts_text(page, "", NOW)
    assert utf16_len(text) <= 2 * TELEGRAM_LIMIT  # 50 lines: two messages at most


def test_clip_and_esc_count_utf16_units_and_never_cut_a_pair_or_an_entity() -> None:
    assert clip("🔥" * 10, 5) == "🔥🔥…"
    assert esc("&" * 10, 12) == "&amp;&amp;…"
    assert esc("a<b", 100) == "a&lt;b"
    for text in ("🔥" * 50, "&<>" * 50, "é🔥&" * 50):
        for units in range(1, 60):
            assert utf16_len(clip(text, units)) <= units
            assert utf16_len(esc(text, units)) <= units
            parse_html(esc(text, units))


def test_an_empty_code_fence_renders_no_empty_entity() -> None:
    for runbook in ("```\n```", "# Fix\n```\n```\nthen retry", "```sql\n\n\n```", "```"):
        html = markdown_to_html(runbook)
        assert "<pre></pre>" not in html and "<pre>\n" not in html
        if html:
            parse_html(html)


def test_a_huge_message_continues_in_at_most_eight_replies() -> None:
    card, continuation = alert_card(incident("k", "🔥" * 500_000), NOW)
    parts = [p for text in continuation for p in split_html(text)]
    assert utf16_len(card) <= TELEGRAM_LIMIT and len(parts) <= 8
    assert "more characters not shown" in parts[-1]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_incident_pages_lists_and_stats_fit_whatever_people_wrote(name: str) -> None:
    value = HOSTILE[name]
    alerts = tuple(incident(value, value, n=k) for k in range(1, 30))
    group = IncidentGroup(7, value[:200], NOW - timedelta(hours=1), alerts)
    timeline = [
        Entry(NOW - timedelta(minutes=100 - k), kind, value[:64], value, k, -1001, value[:3000])
        for k in range(100)
        for kind in ("note", "notified", value[:40])
    ]
    for sees_all in (True, False):
        pages = incident_pages(IncidentRecord(group, timeline), NOW, -1002, sees_all)
        assert len(pages) > 1
        for page in pages:
            assert utf16_len(page) <= TELEGRAM_LIMIT and shown_units(page) <= TELEGRAM_LIMIT
    quiet = incident_pages(IncidentRecord(group, []), NOW, -1002, False)
    assert len(quiet) == 1 and shown_units(quiet[0]) <= TELEGRAM_LIMIT
    for parts in (
        incidents_parts([IncidentGroup(k, value[:200], NOW, alerts) for k in range(500)], NOW),
        stats_parts(hostile_times(value, NOW - timedelta(days=7), NOW), 7),
    ):
        assert 1 <= len(parts) <= 2
        assert all(utf16_len(p) <= TELEGRAM_LIMIT and shown_units(p) <= TELEGRAM_LIMIT for p in parts)
        assert "more" in parts[-1]  # what does not fit is counted, not cut mid-line
