"""What redaction blanks out, and what it leaves readable."""

from __future__ import annotations

import pytest

from ops.config import parse_config
from ops.redaction import configured_secrets, redact, redact_message, url_secrets
from ops.remediation.actions import shell_env
from ops.settings import Settings

pytestmark = pytest.mark.no_ops_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cannot scrape http://scraper:pw1@h:9100/metrics", "cannot scrape http://scraper:***@h:9100/metrics"),
        ("postgresql+asyncpg://u:p@ss@db:5432/x failed", "postgresql+asyncpg://u:***@db:5432/x failed"),
        (
            "url='http://h/x?page=1&token=a&access_token=b&api_key=c&key=d&X-Amz-Signature=e&sig=f&auth=g&secret=h'",
            "url='http://h/x?page=1&token=***&access_token=***&api_key=***&key=***&X-Amz-Signature=***&sig=***"
            "&auth=***&secret=***'",
        ),
        ("https://h/x?password=p#frag", "https://h/x?password=***#frag"),
        ("bot 123456:TEST-token-abcdefghijklmnopqrstu", "bot <token>"),
        ("Authorization: Bearer abc.def", "Authorization: <redacted>"),
        # Ordinary words stay as they are.
        ("secret_age = 5 (alert if > 3)", "secret_age = 5 (alert if > 3)"),
        ("https://h/x?monkey=1&keyword=2&passage=3", "https://h/x?monkey=1&keyword=2&passage=3"),
        ("token_bucket[eu] = 12", "token_bucket[eu] = 12"),
    ],
)
def test_redact_message(text: str, expected: str) -> None:
    assert redact_message(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("API_TOKEN=abc WEBHOOK_SECRET=d", "API_TOKEN=<redacted> WEBHOOK_SECRET=<redacted>"),
        ("ALERTMANAGER_WEBHOOK_TOKEN=x PATH=/usr/bin", "ALERTMANAGER_WEBHOOK_TOKEN=<redacted> PATH=/usr/bin"),
        ("deploy --token X1 --api-key=Y2 -v", "deploy --token <redacted> --api-key=<redacted> -v"),
        ('{"client_secret": "abc", "db_password":"p"}', '{"client_secret": <redacted>, "db_password":<redacted>}'),
        ("curl -H 'Bearer abcdefgh123'", "curl -H 'Bearer <redacted>'"),
        ("token=hunter2 boom", "token=<redacted> boom"),
        ("GET /x?token=abc&page=2", "GET /x?token=***&page=2"),
        ("the value s3cr3t-value appears", "the value <redacted> appears"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text, ["s3cr3t-value", "ab"]) == expected


def test_configured_secrets_are_every_secret_setting_and_url_password() -> None:
    settings = Settings(
        _env_file=None,
        bot_token="1:bot-token-value-of-the-shape-botfather-gives",
        api_token="api-value",
        webhook_secret="hook-value",
        alertmanager_webhook_token="amhook-value",
        ping_token="ping-value",
        database_url="postgresql+asyncpg://ops:db%40pw@h/ops",
        alertmanager_url="http://am:am-pw@h:9093",
    )
    config = parse_config(
        """
targets: {shop: "postgresql+asyncpg://shop:shop-pw@h/shop"}
remediations:
  - {name: deploy, kind: shell, command: [deploy], env: {DEPLOY_TOKEN: tok-value, GREETING: hello}}
  - {name: hook, kind: http, url: "https://h/hook?token=hook-query", headers: {Authorization: Bearer hdr-value}}
detectors:
  - {name: m, kind: metrics, url: "http://u:scrape-pw@h/metrics", metric: up, alert_if: "< 1"}
""",
        env={},
    )
    secrets = set(configured_secrets(settings, config))
    assert {
        "1:bot-token-value-of-the-shape-botfather-gives",
        "api-value",
        "hook-value",
        "amhook-value",
        "ping-value",
        "db%40pw",
        "db@pw",
        "am-pw",
        "shop-pw",
        "tok-value",
        "hook-query",
        "Bearer hdr-value",
        "hdr-value",
        "scrape-pw",
    } <= secrets
    assert "hello" not in secrets
    assert url_secrets("not a url") == []


def test_a_shell_action_gets_path_home_lang_and_its_env_only() -> None:
    config = parse_config(
        "remediations:\n  - {name: a, kind: shell, command: [x], env: {GREETING: hi, SHARED: null, RETRIES: 3}}\n",
        env={},
    )
    parent = {"PATH": "/bin", "HOME": "/root", "LANG": "C.UTF-8", "BOT_TOKEN": "t", "SHARED": "s", "OTHER": "o"}
    assert shell_env(config.remediations[0], parent) == {
        "PATH": "/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "GREETING": "hi",
        "SHARED": "s",
        "RETRIES": "3",
    }
    listed = parse_config("remediations:\n  - {name: a, kind: shell, command: [x], env: [SHARED]}\n", env={})
    assert shell_env(listed.remediations[0], parent) == {
        "PATH": "/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "SHARED": "s",
    }


def test_a_bad_env_name_is_a_config_error() -> None:
    from ops.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config("remediations:\n  - {name: a, kind: shell, command: [x], env: {'A B': 1}}\n", env={})
    assert "remediations[0] (a).env" in str(caught.value) and "not an environment variable name" in str(caught.value)
