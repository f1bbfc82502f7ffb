"""The first window is a skeleton of the wizard; the real pages are built into the same window after it paints.

tests/bench/bench_gui.py times it against a bare QWizard; these tests keep the shape that makes it
fast: at the first paint only a handful of our modules and none of PySide6's costly classes (the
``Qt`` namespace, QStyle, QIcon, QListWidget) are loaded, and the skeleton then turns into the
working wizard: the same window, the start page with the focus on its first field, the list of steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWizard

from app.ui.context import WizardContext
from app.ui.steps import START_ID, STEP_NAMES, page_id
from app.ui.tasks import SyncRunner

ROOT = Path(__file__).resolve().parents[2]

# Our modules the first window may need (app.__main__ is how the child starts the app).
ALLOWED_AT_FIRST_PAINT = {"app", "app.__main__", "app.resources", "app.ui", "app.ui.pages", "app.ui.pages.titles",
                          "app.ui.startup", "app.ui.steps", "app.ui.wizard"}
# PySide6 loads a class's Python type on first use; these cost 4-45 ms each and a bare QWizard needs none.
COSTLY_QT = ("QtCore.Qt", "QtWidgets.QStyle", "QtWidgets.QListWidget", "QtGui.QIcon", "QtGui.QFont")
HEAVY = ("cryptography", "httpx", "joserfc", "keyring", "app.core")

# Runs app.__main__.main(["--home", DIR]) in a fresh interpreter; a filter on the window (installed
# through run_gui's watch_first_window hook: an application-wide one would itself load QStyle, to
# convert the style object it sees events for) notes what is loaded at its first paint, then the
# child waits until the saved profiles are listed and closes the window.
CHILD = r"""
import json, sys
from PySide6 import QtCore, QtGui, QtWidgets

MODULES = {"QtCore": QtCore, "QtGui": QtGui, "QtWidgets": QtWidgets}
report = {"windows": []}


def wizard():
    return next((w for w in QtWidgets.QApplication.topLevelWidgets() if type(w).__name__ == "OnboardingWizard"), None)


class Probe(QtCore.QObject):
    def eventFilter(self, obj, event):
        if "first_paint" not in report and event.type() == QtCore.QEvent.Type.Paint:
            report["first_paint"] = {
                "app_modules": sorted(m for m in sys.modules if m == "app" or m.startswith("app.")),
                "loaded": sorted(f"{n}.{k}" for n, m in MODULES.items() for k in vars(m)),
                "modules": sorted(sys.modules),
                "page": obj.currentPage().objectName(), "side": obj.sideWidget().objectName(),
                "title": obj.windowTitle(), "window": id(obj)}
        return False


class ProbeApp(QtWidgets.QApplication):
    def __init__(self, *args):
        super().__init__(*args)
        self._poll = QtCore.QTimer()
        self._poll.timeout.connect(self.check)
        self._poll.start(20)
        QtCore.QTimer.singleShot(30_000, self.give_up)

    def check(self):
        w = wizard()
        if w is None or w.ctx is None or w.ctx.backend is None or w.start.busy:
            return
        self._poll.stop()
        report["built"] = {
            "page_ids": w.pageIds(), "page": w.currentPage().objectName(), "side": w.sideWidget().objectName(),
            "skeleton_left": [c.objectName() for c in w.findChildren(QtCore.QObject)
                              if c.objectName() in ("page_skeleton", "stepListSkeleton")],
            "focus_on_first_field": w.focusWidget() is w.start.first_field,
            "next_enabled": w.button(QtWidgets.QWizard.WizardButton.NextButton).isEnabled(),
            "steps": w.steps.count(), "loading": w.start.loading.text(), "title": w.windowTitle(),
            "window": id(w), "windows": len([t for t in self.topLevelWidgets() if t.isWindow() and t.isVisible()])}
        w.close()

    def give_up(self):
        report["timeout"] = True
        self.quit()


QtWidgets.QApplication = ProbeApp  # before app.ui.wizard does `from PySide6.QtWidgets import QApplication`
import app.ui.wizard
from app.__main__ import main

PROBE = Probe()
app.ui.wizard.watch_first_window = lambda _app, window: window.installEventFilter(PROBE)

report["rc"] = main(["--home", sys.argv[1]])
print("REPORT " + json.dumps(report), flush=True)
"""


def test_run_gui_paints_a_skeleton_first_then_builds_the_wizard_in_the_same_window(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "UDAP_ONBOARD_FIRST_WINDOW")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), XDG_RUNTIME_DIR=str(tmp_path),
               PYTHON_KEYRING_BACKEND="tests.memkeyring.MemoryKeyring")
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "home")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=90)
    lines = [line for line in out.stdout.splitlines() if line.startswith("REPORT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    report = json.loads(lines[-1].removeprefix("REPORT "))
    assert "timeout" not in report, report
    first, built = report["first_paint"], report["built"]

    assert set(first["app_modules"]) == ALLOWED_AT_FIRST_PAINT
    assert [name for name in COSTLY_QT if name in first["loaded"]] == []
    assert [m for m in first["modules"] if m.split(".")[0] in HEAVY or m.startswith(HEAVY)] == []
    assert (first["page"], first["side"]) == ("page_skeleton", "stepListSkeleton")

    assert built["window"] == first["window"] and built["title"] == first["title"] and built["windows"] == 1
    assert built["page_ids"] == [START_ID] + [page_id(name) for name in STEP_NAMES]
    assert (built["page"], built["side"], built["steps"]) == ("page_start", "stepList", len(STEP_NAMES))
    assert built["skeleton_left"] == []
    assert built["focus_on_first_field"] and built["next_enabled"]
    assert built["loading"] == "No saved profiles yet."
    assert report["rc"] == 0


def test_the_skeleton_turns_into_the_working_wizard(qtbot, backend):
    from app.ui.wizard import OnboardingWizard

    w = OnboardingWizard(None)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    skeleton, placeholder = w.currentPage(), w.sideWidget()
    assert skeleton.objectName() == "page_skeleton" and placeholder.objectName() == "stepListSkeleton"
    assert skeleton.title() == "Welcome to udap-onboard"
    assert w.ctx is None and w.pageIds() == [START_ID]
    nxt, close = w.button(QWizard.WizardButton.NextButton), w.button(QWizard.WizardButton.CancelButton)
    assert nxt.isVisible() and not nxt.isEnabled() and close.isEnabled()
    assert not close.autoDefault()
    if QApplication.platformName() == "offscreen":  # activates windows (Xvfb without a window manager does not)
        with qtbot.waitActive(w):
            w.activateWindow()
        assert QApplication.focusWidget() is close  # the one enabled button...
        qtbot.keyClick(close, Qt.Key.Key_Return)  # ...so Enter must not press it
        assert w.isVisible() and w.currentPage() is skeleton

    w.build(WizardContext(runner=SyncRunner()), later_pages=True)
    assert w.currentPage() is w.start and w.sideWidget() is w.steps and w.pageIds() == [START_ID]
    assert w.steps.count() == len(STEP_NAMES) and not placeholder.isVisible()
    qtbot.waitUntil(w.steps.isVisible, timeout=2000)  # a layout shows a new child on the next loop turn
    qtbot.waitUntil(lambda: w.focusWidget() is w.start.first_field, timeout=2000)  # the app's, once active
    assert not close.isDefault()
    w.build(WizardContext(runner=SyncRunner()))  # once only
    assert w.currentPage() is w.start and w.pageIds() == [START_ID]

    w.add_pages()
    w.set_backend(backend)
    assert nxt.isEnabled()
    qtbot.mouseClick(nxt, Qt.MouseButton.LeftButton)
    assert w.currentId() == page_id("COMMUNITY")
    assert w.steps.item(0).text().startswith("▶")
