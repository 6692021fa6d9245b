"""The README and docs/ as a stranger reads them: every relative link leads somewhere, the picture is
there, every page is reachable from the README, and no name from opsbot's private history is left."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

pytestmark = pytest.mark.no_ops_db  # reads files only

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation and emoji dropped, spaces → '-'."""
    text = _CODE_SPAN.sub(lambda m: m.group(2), heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(page: Path) -> list[str]:
    targets = []
    for line in _prose(page.read_text(encoding="utf-8")):
        line = _CODE_SPAN.sub("", line)
        targets += _LINK.findall(line)
    return targets


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)  # http:, https:, mailto: …


def test_the_slugs_are_githubs() -> None:
    assert github_slug("Try it — two commands") == "try-it--two-commands"
    assert github_slug("Telegram's limits across replicas") == "telegrams-limits-across-replicas"
    assert github_slug("Values: durations, sizes, `${VAR}`") == "values-durations-sizes-var"
    assert github_slug("What `opsbot run` does") == "what-opsbot-run-does"
    assert github_slug("`vw_slo_daily`") == "vw_slo_daily"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if not _relative(target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README) if _relative(t)}
    orphans = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not orphans, f"docs pages the README does not link: {orphans}"


def test_the_readme_shows_the_alert_card() -> None:
    picture = DOCS / "alert-card.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size < 150 * 1024
    assert "docs/alert-card.png" in links(README)


def test_the_readme_leads_with_the_two_commands_and_running_it_for_real() -> None:
    text = README.read_text(encoding="utf-8")
    assert "python3 -m pip install -e . && opsbot demo" in text
    assert "python3 -m pip install -q -e '.[dev]' && python3 -m pytest -q" in text  # what .ci/run runs
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m pip install -q -e '.[dev]' && python3 -m pytest -q" in ci
    real = text.split("## Running it for real", 1)[1].split("\n## ", 1)[0]
    assert "opsbot init" in real and "opsbot check-config" in real and "opsbot run" in real
    assert len(real.strip().splitlines()) <= 40, "Running it for real should fit a screen"


def test_no_names_from_opsbots_private_history() -> None:
    """'Stage 17', 'Phase 10' and 'the seeds' meant something only to the people who wrote opsbot."""
    pattern = re.compile(r"\b(stage|phase)\s+\d+\b|\bseeds?'", re.IGNORECASE)
    found = [
        f"{page.relative_to(ROOT)}:{n}: {line.strip()}"
        for page in PAGES
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)
