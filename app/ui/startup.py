"""What the GUI does around its first window: the skeleton, the icon and desktop id, deferred loading, a probe.

The first window is a skeleton of the wizard (the start page's heading, one line saying what is
happening, the names of the steps where their list will be), made only of the PySide6 classes a
bare QWizard uses: no ``Qt`` enum namespace (~45 ms on first use), no QStyle (~16 ms), none of our
pages. app/ui/wizard.py builds the real pages into the same window after it has painted.

The probe (``UDAP_ONBOARD_FIRST_WINDOW=1``) prints ``first-window <unix time>`` when the wizard
first paints and quits, so packaging/bench_start.py can time a cold start from outside the process.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Callable, Iterable

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget, QWizardPage

from app.resources import APP_ID, ICON_SIZES, icon_png

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon

FIRST_WINDOW_ENV = "UDAP_ONBOARD_FIRST_WINDOW"


class SkeletonPage(QWizardPage):
    """The start page's heading and a line saying what is happening; Next stays disabled."""

    def __init__(self, title: str, subtitle: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_skeleton")
        self.setTitle(title)
        self.setSubTitle(subtitle)
        layout = QVBoxLayout(self)
        self.line = QLabel(QCoreApplication.translate("StartPage", "Loading saved profiles…"), self)
        layout.addWidget(self.line)
        layout.addStretch(1)

    def isComplete(self) -> bool:  # noqa: N802 - Qt override
        return False

    def validatePage(self) -> bool:  # noqa: N802 - Qt override; Enter must not leave the skeleton
        return False


def skeleton_steps(titles: Iterable[str], width: int, parent: QWidget) -> QFrame:
    """The names of the steps in a white frame shaped like the list that replaces it, so nothing moves.

    ``parent`` owns it: QWizard.setSideWidget does not take ownership in PySide6 (a parentless frame
    is collected and the wizard crashes on show).
    """
    frame = QFrame(parent)
    frame.setObjectName("stepListSkeleton")
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.setFrameShadow(QFrame.Shadow.Sunken)
    frame.setBackgroundRole(QPalette.ColorRole.Base)
    frame.setAutoFillBackground(True)
    frame.setFixedWidth(width)
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(3, 0, 3, 0)  # the list's first line is 1 px higher than a label's
    layout.setSpacing(0)
    layout.addWidget(QLabel("\n".join(f"   {title}" for title in titles), frame))
    layout.addStretch(1)
    return frame


def app_icon() -> QIcon:
    """The PNG sizes (no SVG plugin needed); an empty icon if the files are missing."""
    from PySide6.QtGui import QIcon  # ~4 ms to load the class: after the first paint, with the icon

    icon = QIcon()
    for size in ICON_SIZES:
        path = icon_png(size)
        if path.is_file():
            icon.addFile(str(path))
    return icon


def brand(app: QGuiApplication, *, icon: bool = True) -> None:
    """The desktop id Wayland/GNOME use to match the window to its .desktop file, and the window icon.

    run_gui sets the icon after the first paint (``icon=False`` before): decoding seven PNGs and
    handing them to X11 cost ~20 ms under xcb; the desktop id must be there before the window exists.
    """
    app.setDesktopFileName(APP_ID)
    if icon:
        app.setWindowIcon(app_icon())


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
