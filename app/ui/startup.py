"""What the GUI does around its first window: the app icon and desktop id, deferred loading, a probe.

The probe (``UDAP_ONBOARD_FIRST_WINDOW=1``) prints ``first-window <unix time>`` when the wizard
first paints and quits, so packaging/bench_start.py can time a cold start from outside the process.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QGuiApplication, QIcon

from app.resources import APP_ID, ICON_SIZES, icon_png

FIRST_WINDOW_ENV = "UDAP_ONBOARD_FIRST_WINDOW"


def app_icon() -> QIcon:
    """The PNG sizes (no SVG plugin needed); an empty icon if the files are missing."""
    icon = QIcon()
    for size in ICON_SIZES:
        path = icon_png(size)
        if path.is_file():
            icon.addFile(str(path))
    return icon


def brand(app: QGuiApplication) -> None:
    """Window icon, and the desktop id Wayland/GNOME use to match the window to its .desktop file."""
    app.setWindowIcon(app_icon())
    app.setDesktopFileName(APP_ID)


class _FirstPaint(QObject):
    def __init__(self, app: QGuiApplication) -> None:
        super().__init__(app)
        self._app = app
        self._seen = False

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if not self._seen and event.type() == QEvent.Type.Paint:
            self._seen = True
            print(f"first-window {time.time():.6f}", flush=True)
            QTimer.singleShot(0, self._app.quit)
        return False


def watch_first_window(app: QGuiApplication, window: QObject) -> None:
    """With $UDAP_ONBOARD_FIRST_WINDOW=1: report the first paint of ``window`` and quit."""
    if os.environ.get(FIRST_WINDOW_ENV) != "1":
        return
    probe = _FirstPaint(app)
    window.installEventFilter(probe)


class _AfterFirstPaint(QObject):
    def __init__(self, window: QObject, fn: Callable[[], None]) -> None:
        super().__init__(window)
        self._window = window
        self._fn = fn
        self._done = False

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            QTimer.singleShot(0, self.fire)
        return False

    def fire(self) -> None:
        if self._done:
            return
        self._done = True
        self._window.removeEventFilter(self)
        self._fn()


def after_first_paint(window: QObject, fn: Callable[[], None], fallback_ms: int = 1000) -> None:
    """Run ``fn`` once, just after ``window`` first paints (or after ``fallback_ms`` if it never does).

    A zero-delay timer set before ``show()`` fires *before* the first paint, so heavy imports
    there (the core: cryptography, httpx, joserfc, keyring; about 0.4 s) would delay the window.
    """
    if os.environ.get(FIRST_WINDOW_ENV) == "1":
        return  # the start-up probe quits at the first paint; loading would only slow its exit
    hook = _AfterFirstPaint(window, fn)
    window.installEventFilter(hook)
    QTimer.singleShot(fallback_ms, hook.fire)
