"""The total deadline of one HTTP exchange (app/core/http.py), enforced on the socket itself.

httpx's timeouts bound each socket operation, not the exchange: a server that drips a byte just
inside the read timeout (in the headers as much as in the body) could hold a step for hours. At the
deadline the watchdog shuts the connection down, which wakes any read blocked on it. One watchdog
thread serves every exchange (a ``threading.Timer`` per exchange cost a thread start per request).
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time

_IDLE_EXIT = 30.0  # the watchdog thread ends after this long with nothing to watch


class Deadline:
    """``seconds`` from now for the whole exchange, redirects included. Pass ``trace`` as httpcore's
    "trace" extension so new connections are watched; ``fired`` says the timer cut the exchange;
    ``close`` when done (cancels the timer, releases the socket duplicates)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.fired = False
        self._lock = threading.Lock()
        self._done = False
        self._socks: list[socket.socket] = []
        _WATCHDOG.watch(self)

    def trace(self, name: str, info: dict) -> None:
        """httpcore's trace hook: keep a dup of each new connection's socket (a dup, so its fd
        number cannot be reused by another connection before we are done)."""
        if not name.endswith(".connect_tcp.complete"):
            return
        try:
            dup = info["return_value"].get_extra_info("socket").dup()
        except (AttributeError, KeyError, OSError):
            return
        with self._lock:
            if not self._done:
                self._socks.append(dup)
                dup = None if not self.fired else dup
        if dup is not None:  # already past the deadline, or already finished
            _shut(dup)
            dup.close()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            socks = list(self._socks)
        for sock in socks:
            _shut(sock)

    def close(self) -> None:
        with self._lock:
            self._done = True
            socks, self._socks = self._socks, []
        for sock in socks:
            sock.close()


class _Watchdog:
    """A heap of open deadlines and one daemon thread that fires each when due; closed ones are
    dropped when they reach the top (a few hundred at most: every exchange closes its own)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="udap-deadline", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:  # sooner than what the thread waits for
                self._cond.notify()

    def _next_due(self) -> Deadline | None:
        """Wait for the earliest open deadline to be due and pop it; None once idle for a while."""
        with self._cond:
            idle_since = time.monotonic()
            while True:
                while self._heap and self._heap[0][2]._done:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                if not self._heap:
                    if now - idle_since >= _IDLE_EXIT:
                        self._thread = None
                        return None
                    self._cond.wait(_IDLE_EXIT)
                    continue
                idle_since = now
                at = self._heap[0][0]
                if at <= now:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(at - now)

    def _run(self) -> None:
        while (due := self._next_due()) is not None:
            due._fire()  # outside the lock: shutting sockets down may block briefly


_WATCHDOG = _Watchdog()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
