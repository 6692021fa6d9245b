"""Every notification type the domain can queue has a renderer, and every digestible one a digest section."""

from __future__ import annotations

from bot.render.notifications import RENDERERS, SECTIONS, digest_section
from ops.notify.types import NOTIFICATIONS


def test_every_notification_type_has_a_renderer() -> None:
    missing = sorted(cls.__name__ for cls in NOTIFICATIONS.values() if cls not in RENDERERS)
    assert missing == [], f"notification types without a renderer in bot/render/notifications.py: {missing}"


def test_every_digestible_type_is_listed_under_a_digest_section() -> None:
    for cls in NOTIFICATIONS.values():
        if cls.digestible:
            assert RENDERERS[cls].section is not None, cls.__name__
            assert digest_section(cls()) in SECTIONS


def test_every_notification_kind_fits_the_outbox_column() -> None:
    from ops.storage.tables import outbox

    width = outbox.c.kind.type.length
    assert [k for k in NOTIFICATIONS if len(k) > width] == []
