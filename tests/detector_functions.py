"""Functions the `python` detector tests call (importable as `detector_functions:…`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

STATE = {"queue_depth": 3}


def queue_depth() -> int:
    return STATE["queue_depth"]


async def async_healthy() -> bool:
    await asyncio.sleep(0)
    return True


@dataclass
class Verdict:
    ok: bool
    value: float
    message: str


def verdict() -> Verdict:
    return Verdict(False, 7.0, "7 stuck orders")


def as_dict() -> dict[str, object]:
    return {"ok": True, "message": "all good"}


def nothing() -> None:
    return None


def broken() -> int:
    raise RuntimeError("the check itself crashed")


async def slow() -> bool:
    """A check that takes longer than its interval (STATE["slow_seconds"], 5 s unless set)."""
    await asyncio.sleep(float(STATE.get("slow_seconds", 5)))
    return True
