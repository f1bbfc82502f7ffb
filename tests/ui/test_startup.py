"""Around the first window: the core loads after the first paint, the icon, and the start-up probe."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtWidgets import QWidget

from app.resources import APP_ID, ICON_SIZES
from app.ui import startup

ROOT = Path(__file__).resolve().parents[2]


def test_after_first_paint_waits_for_the_paint_and_runs_once(qtbot):
    calls = []
    w = QWidget()
    qtbot.addWidget(w)
    startup.after_first_paint(w, lambda: calls.append(w.isVisible()), fallback_ms=60_000)
    qtbot.wait(20)
    assert calls == []  # not shown, not painted: nothing yet
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: calls == [True], timeout=2000)
    w.update()
    w.repaint()
    qtbot.wait(20)
    assert calls == [True]


def test_after_first_paint_falls_back_to_a_timer(qtbot):
    calls = []
    w = QWidget()
    qtbot.addWidget(w)
    startup.after_first_paint(w, lambda: calls.append(1), fallback_ms=30)
    qtbot.waitUntil(lambda: calls == [1], timeout=2000)


def test_brand_sets_icon_and_desktop_id(qapp):
    old_icon, old_name = qapp.windowIcon(), qapp.desktopFileName()
    try:
        startup.brand(qapp)
        assert len(qapp.windowIcon().availableSizes()) == len(ICON_SIZES)
        assert qapp.desktopFileName() == APP_ID
    finally:
        qapp.setWindowIcon(old_icon)
        qapp.setDesktopFileName(old_name)


def test_first_window_probe_prints_a_timestamp_and_quits(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", UDAP_ONBOARD_FIRST_WINDOW="1", UDAP_ONBOARD_HOME=str(tmp_path / "d"),
               PYTHONPATH=str(ROOT))
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    stamps = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("first-window ")]
    assert len(stamps) == 1
    assert started < stamps[0] < time.time()
    assert not (tmp_path / "d").exists()  # quit before the core (and the data folder) was loaded
