"""Process settings from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ops.model import Severity
from ops.storage.urls import normalize_database_url
from ops.timeutil import parse_duration

IdList = Annotated[list[int], NoDecode]
Duration = Annotated[float, BeforeValidator(parse_duration)]  # "90s", "5m", "1h" or seconds
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
# What @BotFather hands out: the bot's numeric id, a colon, about 35 characters of [A-Za-z0-9_-].
BOT_TOKEN_SHAPE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{30,80}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    bot_token: str = Field("", repr=False)
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    database_url: str = "sqlite+aiosqlite:///./opsbot.db"
    # How long start-up waits for a PostgreSQL that is down or still starting before it gives up (exit 2).
    database_wait: Duration = Field(60.0, ge=0)
    opsbot_config: str = "./opsbot.yaml"
    alert_chat_ids: IdList = []
    admin_chat_ids: IdList = []
    admin_user_ids: IdList = []
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    sweep_interval_sec: int = Field(300, ge=1)
    ping_token: str = Field("", repr=False)
    check_retention_days: int = Field(90, ge=1)
    # Webhook mode (both set): Telegram posts updates to WEBHOOK_URL, which every replica serves at its
    # path; Telegram sends WEBHOOK_SECRET in X-Telegram-Bot-Api-Secret-Token. Unset: the leader polls.
    webhook_url: str = ""
    webhook_secret: str = Field("", repr=False)
    # The Alertmanager bridge: POST /alertmanager (bearer token if set); silences go to ALERTMANAGER_URL.
    alertmanager_webhook_token: str = Field("", repr=False)
    alertmanager_url: str = ""
    # Without PING_TOKEN and ALERTMANAGER_WEBHOOK_TOKEN, `opsbot run` refuses an HTTP_HOST other machines
    # can reach (/ping and /alertmanager would take anything from anyone) unless this says it is meant.
    allow_unauthenticated_ingest: bool = False
    # The JSON API under /api/v1/ops: off without API_TOKEN; reads open without a token only if public.
    api_token: str = Field("", repr=False)
    api_public_read: bool = False
    # The console (a Telegram Mini App at /app): the https address this server is reached at from outside;
    # empty: no 🖥 Console buttons and no login links. CONSOLE_APP: its short name at @BotFather (/newapp),
    # for the t.me links in groups (empty: the bot's main Mini App, t.me/<bot>?startapp).
    public_url: str = ""
    console_app: str = ""
    # The public status page on a listener of its own (host:port, e.g. 0.0.0.0:8081), served by a thread
    # of its own so a crowd reading it does not slow alerts; empty: only on HTTP_HOST:HTTP_PORT.
    status_listen: str = ""

    alert_dedup_window_sec: int = Field(300, ge=0)
    alert_min_severity: Severity = Severity.warning
    alert_repeat_interval_sec: int = Field(14400, ge=0)
    # Storms: more than GROUP_THRESHOLD notifications for one chat within GROUP_WAIT_SEC → one digest.
    group_threshold: int = Field(5, ge=0)  # 0: never digest
    group_wait_sec: float = Field(2.0, ge=0)
    # Flapping: more than FLAP_THRESHOLD fire/resolve changes within FLAP_WINDOW → one notice, then
    # quiet until it has kept one state for FLAP_SETTLE.
    flap_threshold: int = Field(6, ge=0)  # 0: no flap detection
    flap_window: Duration = Field(1800.0, gt=0)
    flap_settle: Duration = Field(600.0, gt=0)
    slo_api_latency_p95_ms: float = Field(1200, gt=0)
    slo_ingest_success_rate_pct: float = Field(99.0, ge=0, le=100)
    slo_scheduler_on_time_pct: float = Field(98.0, ge=0, le=100)
    auto_remediation_enabled: bool = True
    # Retries after a failed first attempt of a remediation that sets no `retries` (0: one attempt only).
    auto_remediation_max_retries: int = Field(3, ge=0)
    cf_negative_balance_alert_threshold: float = -10000

    @field_validator("alert_chat_ids", "admin_chat_ids", "admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return [int(p) for p in parts]
            except ValueError:
                raise ValueError("expected comma-separated integer ids, e.g. -1001234,5678") from None
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        """A malformed token is named, never echoed; a stray space or newline around it is forgiven."""
        value = value.strip()
        if value and not BOT_TOKEN_SHAPE.fullmatch(value):
            hint = " (without the leading 'bot' of API URLs)" if "bot" in value.lower() else ""
            raise ValueError(
                "not a Telegram bot token: expected <bot id>:<about 35 letters, digits, _ or ->, "
                f"exactly as @BotFather gives it{hint}"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_chars(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and - in a webhook secret")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        if value and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("expected an http(s) URL, e.g. https://ops.example.com/telegram/webhook")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        loopback = re.fullmatch(r"http://(127\.0\.0\.1|localhost)(:\d+)?(/[^\s?#]*)?", value)
        if value and not loopback and not re.fullmatch(r"https://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(
                "expected an https URL (Telegram opens Mini Apps only over https), e.g. https://ops.example.com, "
                "or http://127.0.0.1:PORT to try the console's login links on this machine"
            )
        return value.rstrip("/")

    @field_validator("status_listen")
    @classmethod
    def _status_listen(cls, value: str) -> str:
        value = value.strip()
        if value:
            host_port(value)
        return value

    @field_validator("console_app")
    @classmethod
    def _console_app(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_]{3,30}", value):
            raise ValueError("expected the Mini App's short name at @BotFather: 3-30 of A-Z a-z 0-9 _")
        return value

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url and self.webhook_secret)

    @property
    def webhook_path(self) -> str:
        """Where this replica's HTTP server takes the updates: the path of WEBHOOK_URL."""
        return urlsplit(self.webhook_url).path or "/"

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def config_env(self) -> dict[str, str]:
        """What `${VAR}` in the config may use besides the environment (callers lay os.environ over it,
        so the environment wins): every variable of `.env` (the class's `env_file`), then the examples'
        thresholds as the settings read them, so `${SLO_INGEST_SUCCESS_RATE_PCT}` works unexported."""
        from ops.config.envfile import read_env_files

        names = (
            "alert_min_severity",
            "slo_api_latency_p95_ms",
            "slo_ingest_success_rate_pct",
            "slo_scheduler_on_time_pct",
            "cf_negative_balance_alert_threshold",
        )
        values = {name.upper(): getattr(self, name) for name in names}
        seeds = {k: (v.value if hasattr(v, "value") else f"{v:g}") for k, v in values.items()}
        return {**read_env_files(self.model_config.get("env_file")), **seeds}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def open_ingest(self) -> list[str]:
        """The ingest tokens left unset while HTTP_HOST is not loopback (empty when that is not the case)."""
        host = self.http_host.strip("[]")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:  # a host name, or "" (every interface)
            loopback = False
        if loopback:
            return []
        tokens = {"ALERTMANAGER_WEBHOOK_TOKEN": self.alertmanager_webhook_token, "PING_TOKEN": self.ping_token}
        return [name for name, value in tokens.items() if not value]


def host_port(value: str) -> tuple[str, int]:
    """`host:port` (`[::]:8081` for IPv6) → (host, port); a ValueError says what was expected."""
    found = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^\s:\[\]]+):(\d{1,5})", value)
    port = int(found.group(2) or found.group(4)) if found else -1
    if found is None or port > 65535:
        raise ValueError("expected host:port, e.g. 0.0.0.0:8081 (or [::]:8081)")
    return found.group(1) or found.group(3), port


class SettingsError(Exception):
    """A bad environment value, explained in one line that names the variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        msg = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"bad setting {name}: {msg}") from None
    if bool(settings.webhook_url) != bool(settings.webhook_secret):
        missing = "WEBHOOK_SECRET" if settings.webhook_url else "WEBHOOK_URL"
        raise SettingsError(f"bad setting {missing}: webhook mode needs both WEBHOOK_URL and WEBHOOK_SECRET")
    return settings
