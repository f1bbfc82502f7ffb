"""TaskRunner: results on the GUI thread, late results dropped after invalidate, cancel; SyncRunner alike."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QObject, QThread
from PySide6.QtWidgets import QApplication

from app.ui.tasks import CancelToken, SyncRunner, TaskRunner


@pytest.fixture
def runner(qtbot):
    r = TaskRunner()
    yield r
    r.wait(5000)


def test_result_and_error_arrive_on_gui_thread(qtbot, runner):
    seen = {}
    gui = QApplication.instance().thread()

    def work(x):
        seen["worker"] = QThread.currentThread()
        return x * 2

    runner.run(work, 21, on_done=lambda v: seen.update(value=v, thread=QThread.currentThread()))
    qtbot.waitUntil(lambda: "value" in seen, timeout=3000)
    assert seen["value"] == 42
    assert seen["thread"] is gui
    assert seen["worker"] is not gui

    def boom():
        raise ValueError("bad")

    runner.run(boom, on_done=lambda v: seen.update(wrong=v),
               on_error=lambda e: seen.update(error=e, ethread=QThread.currentThread()))
    qtbot.waitUntil(lambda: "error" in seen, timeout=3000)
    assert isinstance(seen["error"], ValueError) and "wrong" not in seen
    assert seen["ethread"] is gui


def test_invalidate_drops_late_results_of_that_owner_only(qtbot, runner):
    page, other = QObject(), QObject()
    release = threading.Event()
    got = []

    def slow(tag):
        release.wait(5)
        return tag

    h1 = runner.run(slow, "late", on_done=got.append, on_error=got.append, owner=page)
    h2 = runner.run(slow, "other", on_done=got.append, owner=other)
    runner.invalidate(page)          # the user pressed Back while the work was running
    release.set()
    qtbot.waitUntil(lambda: h1.finished and h2.finished, timeout=3000)
    assert got == ["other"]
    assert not h1.delivered and h2.delivered
    # a new submission by the same owner after invalidate is delivered again
    runner.run(lambda: "fresh", on_done=got.append, owner=page)
    qtbot.waitUntil(lambda: "fresh" in got, timeout=3000)


def test_cancel_raises_the_flag_and_drops_the_result(qtbot, runner):
    started, release = threading.Event(), threading.Event()
    seen = {}

    def cooperative(stop=None):
        started.set()
        release.wait(5)
        seen["flag"] = bool(stop and stop.cancelled)
        return "result"

    handle = runner.run(cooperative, on_done=lambda v: seen.update(done=v))
    assert started.wait(3)
    handle.cancel()
    release.set()
    qtbot.waitUntil(lambda: handle.finished, timeout=3000)
    assert seen["flag"] is True
    assert "done" not in seen
    assert handle.cancelled


def test_boolean_cancel_parameter_never_receives_a_token():
    """onboarding.register(..., cancel=False): a token there would cancel the registration."""
    seen = {}

    def register(servers, cancel=False):
        seen["cancel"] = cancel

    SyncRunner().run(register, ["s"])
    assert seen["cancel"] is False
    SyncRunner().run(register, ["s"], cancel=True)
    assert seen["cancel"] is True


def test_sync_runner_same_interface():
    r = SyncRunner()
    out, errs = [], []
    r.run(lambda a, b: a + b, 1, 2, on_done=out.append)
    r.run(lambda: 1 / 0, on_done=out.append, on_error=errs.append)

    def takes_token(stop=None):
        return stop

    r.run(takes_token, on_done=out.append)
    assert out[0] == 3 and isinstance(errs[0], ZeroDivisionError)
    assert isinstance(out[1], CancelToken) and not out[1].cancelled


def test_a_bug_in_a_callback_goes_to_excepthook_not_through_qt(monkeypatch):
    hooked = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: hooked.append(exc[0]))

    def bad_callback(_):
        raise RuntimeError("page bug")

    SyncRunner().run(lambda: 1, on_done=bad_callback)
    assert hooked == [RuntimeError]
