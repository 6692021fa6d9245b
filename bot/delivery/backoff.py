"""How long a row waits after a failed attempt. Pure: no clock, no I/O.

`attempts` is the row's count before the attempt that failed (0 for its first try): a transient error
is retried after `base`, `base`, 2·`base`, 4·`base`, … capped at MAX_BACKOFF, and never given up (Telegram
being down loses nothing). An unexpected error — a bug of ours — is retried a few times, 5 s more apart
each time, then the row is marked failed so it cannot loop forever.
"""

from __future__ import annotations

MAX_BACKOFF = 60.0  # seconds: the longest wait after a transient error
_DOUBLINGS = 64  # past this many the wait is long capped anyway (and 2.0 ** n would overflow a float)
GIVE_UP_AFTER = 5  # attempts after which an unexpected error fails the row
UNEXPECTED_STEP = 5.0  # seconds more wait after an unexpected error, per attempt already made


def transient_delay(attempts: int, base: float) -> float:
    """Seconds before the next try after a transient error (5xx, network, timeout, 401). A
    long outage counts its attempts into the thousands: the wait stays MAX_BACKOFF."""
    return min(MAX_BACKOFF, base * 2.0 ** min(max(0, attempts - 1), _DOUBLINGS))


def unexpected_delay(attempts: int) -> float | None:
    """Seconds before the next try after an unexpected error, or None: give up, mark the row failed."""
    if attempts >= GIVE_UP_AFTER:
        return None
    return UNEXPECTED_STEP * attempts
