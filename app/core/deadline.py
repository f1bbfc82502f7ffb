"""The total deadline of one HTTP exchange (app/core/http.py), enforced on the socket itself.

httpx's timeouts bound each socket operation, not the exchange: a server that drips a byte just
inside the read timeout (in the headers as much as in the body) could hold a step for hours. At the
deadline a timer shuts the connection down, which wakes any read blocked on it.
"""

from __future__ import annotations

import socket
import threading
import time


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
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

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
        self._timer.cancel()
        with self._lock:
            self._done = True
            socks, self._socks = self._socks, []
        for sock in socks:
            sock.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
