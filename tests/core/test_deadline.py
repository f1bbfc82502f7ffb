"""The per-exchange deadline: one watchdog thread fires each open deadline when due, never a closed one."""

from __future__ import annotations

import socket
import threading
import time

from app.core import deadline as deadline_mod
from app.core.deadline import Deadline


class _Conn:
    """What httpcore's trace gives: a stream whose extra info holds the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str):
        return self.sock if name == "socket" else None


def _watched(seconds: float) -> tuple[Deadline, socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    d = Deadline(seconds)
    d.trace("connection.connect_tcp.complete", {"return_value": _Conn(ours)})
    return d, ours, theirs


def test_a_due_deadline_wakes_a_blocked_read():
    d, ours, theirs = _watched(0.15)
    started = time.monotonic()
    try:
        ours.settimeout(5)
        assert ours.recv(10) == b""  # shut down by the watchdog: EOF, not the 5 s timeout
        assert d.fired and 0.1 < time.monotonic() - started < 2
    finally:
        d.close()
        ours.close()
        theirs.close()


def test_closed_deadlines_never_fire_and_a_sooner_one_is_not_delayed_by_a_later_one():
    later = [Deadline(0.3) for _ in range(50)]
    for d in later[:49]:
        d.close()
    soon, ours, theirs = _watched(0.05)  # added after a later one: the thread must wake for it
    try:
        ours.settimeout(5)
        started = time.monotonic()
        assert ours.recv(10) == b""
        assert soon.fired and time.monotonic() - started < 0.25
        time.sleep(0.4)
        assert [d.fired for d in later] == [False] * 49 + [True]
    finally:
        later[49].close()
        soon.close()
        ours.close()
        theirs.close()


def test_one_watchdog_thread_for_many_concurrent_exchanges():
    before = {t.name for t in threading.enumerate()}
    open_ = [Deadline(60) for _ in range(100)]
    try:
        names = [t.name for t in threading.enumerate() if t.name not in before]
        assert names.count("udap-deadline") <= 1 and len(names) <= 1
    finally:
        for d in open_:
            d.close()


def test_the_idle_watchdog_thread_ends_and_a_new_one_starts_when_needed(monkeypatch):
    monkeypatch.setattr(deadline_mod, "_IDLE_EXIT", 0.05)
    d = Deadline(0.01)
    d.close()
    time.sleep(0.3)
    assert deadline_mod._WATCHDOG._thread is None
    d, ours, theirs = _watched(0.05)
    try:
        ours.settimeout(5)
        assert ours.recv(10) == b"" and d.fired
    finally:
        d.close()
        ours.close()
        theirs.close()
