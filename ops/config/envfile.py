"""The `.env` file: its variables for `${VAR}` in the config, and warnings about likely typos in it.

pydantic-settings reads `.env` for opsbot's own settings; the config's `${VAR}` values come from the same
file (under the environment, which wins). A variable there that is neither a setting nor used by the
config but is close to a setting's name (`BOT_TOKN`, `ALERT_CHAT_ID`) is most likely a typo that leaves
the setting at its default: it is named with the closest setting.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

from dotenv import dotenv_values

EnvFiles = str | Path | Sequence[str | Path] | None  # as pydantic-settings takes `env_file`


def env_file_paths(env_file: EnvFiles) -> list[Path]:
    if env_file is None:
        return []
    if isinstance(env_file, str | Path):
        return [Path(env_file)]
    return [Path(p) for p in env_file]


def _read(path: Path) -> dict[str, str | None]:
    """A file's variables; one that is missing or unreadable has none (pydantic-settings reports it)."""
    if not path.is_file():
        return {}
    try:
        return dict(dotenv_values(path, encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def read_env_files(env_file: EnvFiles) -> dict[str, str]:
    """Every `NAME=value` of the files that exist, a later file winning (as in pydantic-settings)."""
    values: dict[str, str] = {}
    for path in env_file_paths(env_file):
        values.update({k: v for k, v in _read(path).items() if v is not None})
    return values


def setting_typos(
    env_file: EnvFiles, settings: Iterable[str], referenced: Iterable[str] = (), *, cutoff: float = 0.8
) -> list[str]:
    """One line per unknown variable that looks like a setting: `.env: BOT_TOKN is not … BOT_TOKEN?`"""
    known = sorted({name.upper() for name in settings})
    used = {name.upper() for name in referenced}
    lines = []
    for path in env_file_paths(env_file):
        for name in _read(path):
            upper = name.upper()
            if upper in known or upper in used:
                continue
            close = difflib.get_close_matches(upper, known, n=1, cutoff=cutoff)
            if close:
                lines.append(f"{path}: {name} is not an opsbot setting — did you mean {close[0]}?")
    return lines
