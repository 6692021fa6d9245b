"""The config file as `opsbot run`, `check-config` and a reload read it: the path (OPSBOT_CONFIG), `${VAR}`
from `.env` under the environment, the `.env` typo warnings, and the file's hash.

A rejected file's `text` is exactly what `opsbot check-config` prints for it: the warnings, each as
`warning: …`, then every error, one a line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ops.config import ConfigError, OpsConfig, load_config, parse_config
from ops.config.current import digest_of
from ops.config.envfile import setting_typos
from ops.config.loader import referenced_variables
from ops.settings import Settings


@dataclass(frozen=True)
class ConfigFile:
    path: str
    config: OpsConfig
    digest: str  # sha256:<hex> of the bytes read
    warnings: list[str] = field(default_factory=list)


class ConfigRejected(Exception):
    """The file cannot be used; `lines` are what `opsbot check-config` prints for it."""

    def __init__(self, path: str, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.path = path
        self.lines = lines

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def env_file_warnings(settings: Settings, config_path: str | Path) -> list[str]:
    """The typo warnings for opsbot's settings in `.env`, sparing the variables the config file refers to."""
    try:
        text = Path(config_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    return setting_typos(settings.model_config.get("env_file"), Settings.model_fields, referenced_variables(text))


def read_config(settings: Settings, path: str | Path | None = None) -> ConfigFile:
    """The config at `path` (default OPSBOT_CONFIG), validated; raises ConfigRejected."""
    path = str(Path(path or settings.opsbot_config))  # as load_config names it: `opsbot.yaml`, not `./opsbot.yaml`
    warnings = env_file_warnings(settings, path)
    env = {**settings.config_env(), **os.environ}
    try:
        raw = Path(path).read_bytes()
    except OSError:
        raw = None
    try:
        if raw is None:
            load_config(path, env=env, warnings=warnings)  # raises the ConfigError check-config prints
            raise ConfigError([f"{path}: cannot read"])  # readable a moment later: an editor's race
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError([f"{path}: not UTF-8 text"]) from None
        config = parse_config(text, name=path, base_dir=Path(path).parent, env=env, warnings=warnings)
    except ConfigError as exc:
        raise ConfigRejected(path, [f"warning: {w}" for w in warnings] + [str(exc)]) from None
    return ConfigFile(path, config, digest_of(raw), warnings)
