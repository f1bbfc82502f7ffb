"""The wizard: time to first window vs a bare PySide6 QWizard (goal <= 1.15x, only PySide6 imported
by then), the longest GUI-thread stall while the real TaskRunner generates an RSA-4096 key and while
it registers (goal < 50 ms), and peak RSS over the practice journey (goal < 150 MB).

First window: each variant is a fresh process (alternating, ``python -m app --home TMP`` through
a probe vs a one-page QWizard), timed from just before the process is spawned to the first paint
of a top-level window, as seen by an application-wide event filter; the modules loaded at that
instant are listed. Stalls and memory: the whole practice journey driven through the wizard's
buttons with the real TaskRunner in a child process, a 5 ms QTimer on the GUI thread recording its
longest gap during each background step; ru_maxrss at the end. All under QT_QPA_PLATFORM=offscreen.
Run: python tests/bench/bench_gui.py   (BENCH_QUICK=1 for a smoke run; BENCH_KEY_OFFLOAD=0 keeps the
PKCS#12 KDF in the GUI process, as before app/core/keyworker.py; BENCH_GUI_PART=first-window or
--first-window-only for the first-window part alone; BENCH_QPA=xcb under xvfb-run for a real X server)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBE_PACKAGES = {"timing", "bench_gui"}  # the probe itself
# Loaded in both variants: PySide6's own helpers, and the hooks of an editable install (.pth files).
PYSIDE_INTERNALS = {"__feature__", "shibokensupport", "signature_bootstrap"}


# --- child: first paint probe -----------------------------------------------------------------------

def first_window(variant: str) -> None:
    """Print {"t": monotonic at first paint, "modules": [...]} and leave at once."""
    from PySide6 import QtCore, QtGui, QtWidgets

    class Probe(QtCore.QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt override
            if event.type() == QtCore.QEvent.Type.Paint and isinstance(obj, QtWidgets.QWidget) and obj.isWindow():
                t = time.monotonic()
                names = sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names)
                               - {"PySide6", "shiboken6", "__main__"} - PROBE_PACKAGES)
                # PySide6 creates a class's Python type on first use (``Qt`` alone ~45 ms): list those made so far
                qt_types = sorted(f"{mod.__name__.split('.')[-1]}.{name}" for mod in (QtCore, QtGui, QtWidgets)
                                  for name, value in vars(mod).items() if isinstance(value, type))
                sys.stdout.write(json.dumps({"t": t, "modules": names, "qt_types": qt_types, "app_modules": sorted(
                    m for m in sys.modules if m == "app" or m.startswith("app."))}) + "\n")
                sys.stdout.flush()
                os._exit(0)
            return False

    class ProbeApp(QtWidgets.QApplication):
        def __init__(self, *args) -> None:
            super().__init__(*args)
            self._probe = Probe()
            self.installEventFilter(self._probe)

    QtWidgets.QApplication = ProbeApp  # before app.ui.wizard does `from PySide6.QtWidgets import QApplication`
    if variant == "ours":
        import runpy

        sys.argv = ["app", "--home", tempfile.mkdtemp(prefix="udap-bench-gui-")]
        runpy.run_module("app", run_name="__main__", alter_sys=True)
    else:
        app = ProbeApp([sys.argv[0]])
        wizard = QtWidgets.QWizard()
        page = QtWidgets.QWizardPage()
        page.setTitle("Welcome")
        QtWidgets.QVBoxLayout(page).addWidget(QtWidgets.QLabel("A bare one-page QWizard."))
        wizard.addPage(page)
        wizard.show()
        app.exec()


# --- child: the journey with the real TaskRunner ------------------------------------------------------

ORG = {"name": "riverside", "org_name": "Riverside Family Practice", "client_name": "Riverside Records Sync",
       "client_uri": "https://riverside.example.org/udap", "contact": "it@riverside.example.org"}


def journey(key_choice: str) -> None:
    """Drive the wizard through the practice journey; print stalls per step and ru_maxrss as JSON."""
    import resource

    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app.core import keys, onboarding, workflow
    from app.core.secrets import MemorySecretStore
    from app.core.session import Session
    from app.ui.context import Backend, WizardContext
    from app.ui.steps import page_id
    from app.ui.tasks import TaskRunner
    from app.ui.wizard import OnboardingWizard

    app = QApplication.instance() or QApplication([sys.argv[0]])
    home = tempfile.mkdtemp(prefix="udap-bench-gui-")
    session = Session(home, secrets=MemorySecretStore())
    keys.offload(os.environ.get("BENCH_KEY_OFFLOAD", "1") == "1")  # as load_backend does in the real app
    runner = TaskRunner()
    w = OnboardingWizard(WizardContext(runner=runner))
    w.show()
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    stalls: dict[str, dict] = {}

    def idle(action, label: str | None = None, timeout: float = 120.0, until: float = 0.0) -> None:
        """Do ``action``; spin the event loop until the runner has been idle for a moment (and ``until``)."""
        start = len(ticks)
        began = time.perf_counter()
        action()
        loop, quiet = QEventLoop(), 0
        while time.perf_counter() - began < timeout:
            loop.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            quiet = quiet + 1 if not runner.is_busy() else 0
            if quiet >= 5 and time.perf_counter() >= until:
                break
            time.sleep(0.001)
        else:
            raise TimeoutError(label or "step")
        if label:
            seen = [began] + ticks[start:]
            gaps = [b - a for a, b in zip(seen, seen[1:])]
            stalls[label] = {"max_gap_ms": round(max(gaps) * 1e3, 1) if gaps else None, "ticks": len(gaps),
                             "seconds": round(time.perf_counter() - began, 2)}

    def baseline(seconds: float = 1.0) -> None:
        """No work at all: the machine's own noise floor for the same 5 ms timer."""
        idle(lambda: None, "idle (no work: noise floor)", until=time.perf_counter() + seconds)

    def expect(step: str) -> None:
        page = w.currentPage()
        if w.currentId() != page_id(step):
            raise RuntimeError(f"on {page.objectName()} instead of {step}: {page.banner.plain_text()}")

    idle(lambda: w.set_backend(Backend(session, onboarding, workflow)))
    baseline()
    idle(w.next)
    expect("COMMUNITY")
    idle(w.next, "start practice server")
    expect("ORGANIZATION")
    for name, value in ORG.items():
        w.currentPage().fields[name].setText(value)
    idle(w.next)
    expect("KEY")
    w.currentPage().radios[key_choice].setChecked(True)
    idle(w.next, f"generate {key_choice} key (+ CSR)")
    expect("CSR")
    idle(w.currentPage().issue.click, "issue certificate")
    idle(w.next, "check certificate (chain, CRL)")
    expect("CERTIFICATE")
    idle(w.next, "discovery + statement preview")
    expect("REGISTRATION_DETAILS")
    idle(w.next)
    expect("CONNECT")
    connect = w.currentPage()
    idle(connect.register.click, "register")
    if connect.banner.kind != "ok":
        raise RuntimeError(f"registration: {connect.banner.plain_text()}")
    idle(w.next)
    expect("TEST_ACCESS")
    idle(w.currentPage().run.click, "token + FHIR read")
    idle(w.next)
    expect("DONE")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"stalls": stalls, "peak_rss_mb": round(rss_mb, 1), "key": key_choice}), flush=True)
    runner.wait(30_000)
    session.close()
    os._exit(0)


# --- parent -------------------------------------------------------------------------------------

def child_env(scratch: str) -> dict:
    """Offscreen; every temporary folder of the children (data folders, XDG runtime) in ``scratch``."""
    runtime = os.path.join(scratch, "xdg")
    os.makedirs(runtime, mode=0o700, exist_ok=True)
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("BENCH_QPA", "offscreen"), TMPDIR=scratch)
    env.setdefault("XDG_RUNTIME_DIR", runtime)
    return env


def spawn_first_window(variant: str, env: dict) -> tuple[float, dict]:
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, __file__, "--first-window", variant], env=env, capture_output=True,
                         text=True, timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{variant}: no first paint\n{out.stderr[-2000:]}")
    result = json.loads(lines[-1])
    return result["t"] - t0, result


def run_journey(key: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--journey", key], env=env, capture_output=True, text=True,
                         timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"journey {key} failed\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    import shutil

    scratch = tempfile.mkdtemp(prefix="udap-bench-gui-")
    try:
        measure(child_env(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def first_window_only() -> bool:
    return os.environ.get("BENCH_GUI_PART") == "first-window" or "--first-window-only" in sys.argv


def measure(env: dict) -> None:
    # Imported here, not at the top: the first-window probe must load nothing but what both variants share.
    sys.path.insert(0, str(HERE))
    from timing import goal, header, med, ratio_ci, reps, row, spread

    header(f"first window: python -m app vs a bare one-page QWizard (fresh processes, alternating, "
           f"{env['QT_QPA_PLATFORM']})")
    samples: dict[str, list[float]] = {"ours": [], "bare": []}
    seen: dict[str, dict] = {}
    spawn_first_window("bare", env)  # warm the file cache for both
    spawn_first_window("ours", env)
    rounds = reps(15, 3)
    for i in range(rounds):
        for variant in (("ours", "bare") if i % 2 == 0 else ("bare", "ours")):
            seconds, result = spawn_first_window(variant, env)
            samples[variant].append(seconds)
            seen[variant] = result
    for variant in ("ours", "bare"):
        row(f"{variant}: spawn to first paint", spread(samples[variant]))
    ratio = med(samples["ours"]) / med(samples["bare"])
    lo, hi = ratio_ci(samples["ours"], samples["bare"])
    row("ratio ours/bare", f"{ratio:.3f}x  (95% bootstrap {lo:.3f}-{hi:.3f}, {rounds} launches each)")

    def third_party(variant: str) -> list[str]:
        return [m for m in seen[variant]["modules"] if m not in PYSIDE_INTERNALS and m != "_distutils_hack"
                and not m.startswith("__editable__")]

    row("packages at first paint besides PySide6", f"ours: {', '.join(third_party('ours')) or '(none)'}; "
        f"bare: {', '.join(third_party('bare')) or '(none)'}")
    row("app modules loaded at first paint", f"{len(seen['ours']['app_modules'])}: "
        + ", ".join(m.removeprefix("app.") for m in seen["ours"]["app_modules"]))
    extra = sorted(set(seen["ours"]["qt_types"]) - set(seen["bare"]["qt_types"]))
    row("PySide6 classes at first paint, ours only", f"{len(extra)}: {', '.join(extra[:12]) or '(none)'}"
        + (", …" if len(extra) > 12 else ""))
    goal("first window ours/bare", ratio, 1.15)
    if first_window_only():
        return

    header("the practice journey in the wizard with the real TaskRunner (child process)")
    results = [run_journey("rsa-4096", env), run_journey("rsa-3072", env)]
    for result in results:
        for step, info in result["stalls"].items():
            row(f"[{result['key']}] {step}", f"longest GUI stall {info['max_gap_ms']:6.1f} ms over "
                f"{info['seconds']:5.2f} s ({info['ticks']} ticks of 5 ms)")
        row(f"[{result['key']}] peak RSS (ru_maxrss)", f"{result['peak_rss_mb']:.1f} MB")
    keygen = results[0]["stalls"]["generate rsa-4096 key (+ CSR)"]["max_gap_ms"]
    register = max(r["stalls"]["register"]["max_gap_ms"] for r in results)
    goal("GUI stall while generating RSA-4096", keygen, 50, "ms", below=True)
    goal("GUI stall while registering", register, 50, "ms", below=True)
    goal("GUI peak RSS over the journey", max(r["peak_rss_mb"] for r in results), 150, "MB", below=True)


if __name__ == "__main__":
    if "--first-window" in sys.argv:
        first_window(sys.argv[sys.argv.index("--first-window") + 1])
    elif "--journey" in sys.argv:
        sys.path.insert(0, str(HERE.parents[1]))
        journey(sys.argv[sys.argv.index("--journey") + 1])
    else:
        main()
