"""The browser console's secrets: one-time login links and the sessions they open.

Only the SHA-256 of a secret is stored: whoever reads the table cannot log in. A login link is used up
by the first request that presents it (one UPDATE decides, so two requests racing cannot both win);
a session is good until it expires. Expired rows are deleted whenever a new one is made.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.storage.clean import ACTOR_LIMIT, clean_text, shorten
from ops.storage.tables import console_tokens

LOGIN = "login"
SESSION = "session"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class TokenOwner:
    user_id: int
    name: str


class ConsoleTokens:
    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def issue(self, kind: str, owner: TokenOwner, now: datetime, lifetime: timedelta) -> str:
        """A new secret of `kind` for `owner`, valid for `lifetime` from `now` (the secret itself is
        returned once and never stored)."""
        secret = secrets.token_urlsafe(32)
        async with self.db.begin() as conn:
            await conn.execute(delete(console_tokens).where(console_tokens.c.expires_at <= now))
            await conn.execute(
                insert(console_tokens).values(
                    token_hash=token_hash(secret),
                    kind=kind,
                    user_id=owner.user_id,
                    user_name=shorten(clean_text(owner.name), ACTOR_LIMIT),
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
        return secret

    async def redeem_login(self, secret: str, now: datetime) -> TokenOwner | None:
        """The owner of an unused, unexpired login link, which is used up now; else None."""
        t = console_tokens.c
        key = token_hash(secret)
        async with self.db.begin() as conn:
            done = await conn.execute(
                update(console_tokens)
                .where(t.token_hash == key, t.kind == LOGIN, t.used_at.is_(None), t.expires_at > now)
                .values(used_at=now)
            )
            if done.rowcount != 1:
                return None
            row = (await conn.execute(select(t.user_id, t.user_name).where(t.token_hash == key))).one()
        return TokenOwner(int(row.user_id), row.user_name)

    async def session(self, secret: str, now: datetime) -> TokenOwner | None:
        """The owner of a live session; None when there is none (unknown, expired or ended)."""
        t = console_tokens.c
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(t.user_id, t.user_name).where(
                        t.token_hash == token_hash(secret), t.kind == SESSION, t.used_at.is_(None), t.expires_at > now
                    )
                )
            ).first()
        return TokenOwner(int(row.user_id), row.user_name) if row is not None else None

    async def end_session(self, secret: str, now: datetime) -> None:
        t = console_tokens.c
        async with self.db.begin() as conn:
            await conn.execute(
                update(console_tokens)
                .where(t.token_hash == token_hash(secret), t.kind == SESSION, t.used_at.is_(None))
                .values(used_at=now)
            )
