"""Backoff after wrong admin tokens.

Per client (its address) and per study: the first ``FREE`` wrong tokens cost nothing, then each
further one makes the client wait ``BASE_S * 2**(n - FREE)`` seconds (2, 4, 8, ... up to
``CAP_S``) before a token is even checked; a right token clears the count. On top, all clients
of a study together get ``GLOBAL_FREE`` wrong tokens per ``GLOBAL_WINDOW_S`` before everyone
waits (bounds guessing from many addresses). Ten wrong tokens in a row thus take over four
minutes instead of seconds. State lives in the server process (forgotten on restart, after an
hour without failures). Behind a reverse proxy every client has the proxy's address, so the
per-client limit acts as a global one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

FREE = 3
BASE_S = 2.0
CAP_S = 300.0
GLOBAL_FREE = 30
GLOBAL_WINDOW_S = 600.0
FORGET_S = 3600.0


def now() -> float:
    """The throttle's clock (a function of its own, so tests can move it)."""
    return time.monotonic()


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or (lambda: now())
        self._lock = threading.Lock()
        self._fails: dict[tuple[str, str], tuple[int, float]] = {}  # key -> (count, last time)
        self._recent: dict[str, deque[float]] = {}  # study -> times of recent failures

    def wait_s(self, study: str, client: str) -> float:
        """Seconds before this client may try a token for this study (0: now)."""
        now = self._clock()
        with self._lock:
            n, last = self._fails.get((study, client), (0, now))
            if now - last > FORGET_S:
                n = 0
            wait = 0.0 if n < FREE else min(CAP_S, BASE_S * 2 ** (n - FREE)) - (now - last)
            recent = self._recent.get(study, deque())
            while recent and now - recent[0] > GLOBAL_WINDOW_S:
                recent.popleft()
            if len(recent) >= GLOBAL_FREE:
                wait = max(wait, recent[0] + GLOBAL_WINDOW_S - now)
            return max(0.0, wait)

    def failed(self, study: str, client: str) -> float:
        """Record a wrong token; returns the wait before the next try."""
        now = self._clock()
        with self._lock:
            n, last = self._fails.get((study, client), (0, now))
            if now - last > FORGET_S:
                n = 0
            self._fails[(study, client)] = (n + 1, now)
            self._recent.setdefault(study, deque()).append(now)
        return self.wait_s(study, client)

    def succeeded(self, study: str, client: str) -> None:
        with self._lock:
            self._fails.pop((study, client), None)
