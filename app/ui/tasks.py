"""The only threading code of the GUI: run core calls off the GUI thread, deliver results on it.

Every submission carries a generation token of its *owner* (usually the page that asked). When
the user goes Back or leaves the page, ``invalidate(owner)`` bumps the generation and any result
that arrives later is dropped, so a slow key generation can never write into a page the user
already abandoned. ``SyncRunner`` has the same interface and runs inline, for tests.
"""

from __future__ import annotations

import inspect
import sys
import itertools
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


class CancelToken:
    """A cooperative cancel flag: a long function may check ``cancelled`` between stages."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __bool__(self) -> bool:  # so `if stop:` in a core function reads naturally
        return self.cancelled


class TaskHandle:
    """What ``run`` returns: ``cancel()`` drops the result and raises the cooperative flag."""

    def __init__(self, owner_key: Any, generation: int, token: CancelToken) -> None:
        self.owner_key = owner_key
        self.generation = generation
        self.token = token
        self.finished = False
        self.delivered = False

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def cancel(self) -> None:
        self.token.cancel()


def _start(owners: "_Owners", owner: Any, fn: Callable, kwargs: dict) -> TaskHandle:
    """A handle for one submission; a function with a ``stop`` parameter gets its cancel flag there.

    The flag has its own parameter name: ``cancel`` already means "cancel the registration" in
    onboarding.register, where a truthy flag would delete the client.
    """
    key = owners.key(owner)
    handle = TaskHandle(key, owners.current(key), CancelToken())
    if "stop" not in kwargs and _has_keyword(fn, "stop"):
        kwargs["stop"] = handle.token
    return handle


def _has_keyword(fn: Callable, name: str) -> bool:
    try:
        param = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def _call_back(handle: TaskHandle, ok: bool, value: Any, on_done: Done | None, on_error: Failed | None) -> None:
    """Call the page's callback; a bug in it goes to sys.excepthook instead of unwinding through Qt.

    An exception escaping into a C++ virtual (initializePage -> sync run -> callback) can crash
    PySide; pytest-qt's hook still turns it into a test failure.
    """
    handle.delivered = True
    try:
        if ok and on_done is not None:
            on_done(value)
        elif not ok and on_error is not None:
            on_error(value)
    except Exception:  # noqa: BLE001
        sys.excepthook(*sys.exc_info())


class _Owners:
    """Generation counters per owner; shared by both runners."""

    def __init__(self) -> None:
        self._gen: dict[Any, int] = {}

    @staticmethod
    def key(owner: Any) -> Any:
        return None if owner is None else id(owner)

    def current(self, key: Any) -> int:
        return self._gen.get(key, 0)

    def bump(self, key: Any) -> None:
        self._gen[key] = self._gen.get(key, 0) + 1

    def live(self, handle: TaskHandle) -> bool:
        return not handle.cancelled and self.current(handle.owner_key) == handle.generation


class _Bridge(QObject):
    """Lives on the GUI thread; signals emitted from workers are queued to it."""

    settled = Signal(int, bool, object)  # job id, ok, result-or-exception


class _Job(QRunnable):
    def __init__(self, job_id: int, call: Callable[[], Any], bridge: _Bridge) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._id, self._call, self._bridge = job_id, call, bridge

    def run(self) -> None:  # worker thread
        try:
            result = self._call()
        except BaseException as exc:  # noqa: BLE001 - everything must reach the GUI as an error
            self._bridge.settled.emit(self._id, False, exc)
        else:
            self._bridge.settled.emit(self._id, True, result)


class TaskRunner(QObject):
    """QThreadPool runner; ``on_done``/``on_error`` always run on the GUI thread."""

    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool(self)
        self._owners = _Owners()
        self._bridge = _Bridge(self)
        self._bridge.settled.connect(self._deliver)
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[TaskHandle, Done | None, Failed | None]] = {}

    def run(self, fn: Callable, *args: Any, on_done: Done | None = None, on_error: Failed | None = None,
            owner: Any = None, **kwargs: Any) -> TaskHandle:
        handle = _start(self._owners, owner, fn, kwargs)
        job_id = next(self._ids)
        was_idle = not self._pending
        self._pending[job_id] = (handle, on_done, on_error)
        self._pool.start(_Job(job_id, lambda: fn(*args, **kwargs), self._bridge))
        if was_idle:
            self.busy_changed.emit(True)
        return handle

    def invalidate(self, owner: Any) -> None:
        """Forget everything ``owner`` asked for; late results are dropped."""
        self._owners.bump(self._owners.key(owner))

    def is_busy(self, owner: Any = None) -> bool:
        key = self._owners.key(owner)
        return any(owner is None or (h.owner_key == key and self._owners.live(h))
                   for h, _, _ in self._pending.values())

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the pool is idle (shutdown, tests); queued deliveries still need the event loop."""
        return self._pool.waitForDone(msecs)

    @Slot(int, bool, object)
    def _deliver(self, job_id: int, ok: bool, value: Any) -> None:
        handle, on_done, on_error = self._pending.pop(job_id)
        handle.finished = True
        try:
            if self._owners.live(handle):
                _call_back(handle, ok, value, on_done, on_error)
        finally:
            if not self._pending:
                self.busy_changed.emit(False)


class SyncRunner:
    """Same interface as TaskRunner, runs inline (tests, CLI-like scripted use)."""

    def __init__(self) -> None:
        self._owners = _Owners()
        self.calls: list[str] = []

    def run(self, fn: Callable, *args: Any, on_done: Done | None = None, on_error: Failed | None = None,
            owner: Any = None, **kwargs: Any) -> TaskHandle:
        handle = _start(self._owners, owner, fn, kwargs)
        self.calls.append(getattr(fn, "__name__", repr(fn)))
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            ok, value = False, exc
        else:
            ok, value = True, result
        handle.finished = True
        if self._owners.live(handle):
            _call_back(handle, ok, value, on_done, on_error)
        return handle

    def invalidate(self, owner: Any) -> None:
        self._owners.bump(self._owners.key(owner))

    def is_busy(self, owner: Any = None) -> bool:
        return False

    def wait(self, msecs: int = 0) -> bool:
        return True


class _GuiCall(QObject):
    request = Signal(object)


class GuiPrompt:
    """Make a GUI-thread function (a passphrase dialog) callable from a worker thread.

    Core asks for a passphrase from inside a task (decrypting the key); the dialog must open on the
    GUI thread, so the worker posts the call there and waits for the answer.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        from PySide6.QtCore import QCoreApplication, Qt

        self._fn = fn
        self._bridge = _GuiCall()
        app = QCoreApplication.instance()
        if app is not None:
            self._bridge.moveToThread(app.thread())
        self._bridge.request.connect(self._on_gui, Qt.ConnectionType.QueuedConnection)

    def _on_gui(self, job: list) -> None:
        args, done = job[0], job[1]
        try:
            job.append((True, self._fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - handed back to the worker
            job.append((False, exc))
        done.set()

    def __call__(self, *args: Any) -> Any:
        from PySide6.QtCore import QThread

        if QThread.currentThread() is self._bridge.thread():
            return self._fn(*args)
        done = threading.Event()
        job: list = [args, done]
        self._bridge.request.emit(job)
        done.wait()
        ok, value = job[2]
        if not ok:
            raise value
        return value
