"""`.env.example` documents every setting opsbot reads, and its values are the defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ops.settings import Settings

pytestmark = pytest.mark.no_ops_db
EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def documented() -> dict[str, str]:
    """NAME → value for each `NAME=value` line (a commented-out `# NAME=value` counts too)."""
    pairs = re.findall(r"^(?:# ?)?([A-Z][A-Z0-9_]*)=(.*)$", EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)
    return dict(pairs)


def test_every_setting_is_in_env_example() -> None:
    names = {name.upper() for name in Settings.model_fields}
    missing = sorted(names - set(documented()))
    assert not missing, f".env.example lacks {missing}"
    assert "ADMIN_CHAT_IDS" in documented()


def test_env_example_mentions_no_setting_that_does_not_exist() -> None:
    names = {name.upper() for name in Settings.model_fields}
    assert sorted(set(documented()) - names) == []


def test_env_example_loads_as_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    assert Settings(_env_file=EXAMPLE) == Settings(_env_file=None)  # type: ignore[call-arg]
