"""Time from launch to the first painted window: the bundle(s) against ``python -m app``, in one run.

Each variant is launched alternately (the order rotates each round), offscreen, with a throwaway
data folder and ``UDAP_ONBOARD_FIRST_WINDOW=1``: the app prints ``first-window <unix time>`` on its
first paint and quits (app/ui/startup.py). One unmeasured warm-up launch per variant comes first.
``--cold`` empties the page cache before every launch (root only; it slows the whole machine
briefly), which is what a user's first start of the day looks like.

Usage: .venv/bin/python packaging/bench_start.py [--runs 7] [--cold] [--onefile]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0


def variants(args) -> dict[str, list[str]]:
    sys.path.insert(0, str(ROOT))
    from app import __version__

    found = {"source": [args.python, "-m", "app"]}
    onedir = ROOT / "dist" / "udap-onboard" / "udap-onboard"
    onefile = ROOT / "dist" / f"udap-onboard-{__version__}"
    if onedir.is_file():
        found["one-dir"] = [str(onedir)]
    if args.onefile and onefile.is_file():
        found["one-file"] = [str(onefile)]
    return found


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as fh:
        fh.write("3\n")


def launch(cmd: list[str], home: Path) -> tuple[float, float, float]:
    """(seconds to first window, seconds to exit, CPU seconds used) for one launch.

    CPU time (user + system, whole process) does not grow when other work shares the machine, so
    it is the steadier number on a busy 2-core box; wall time is what the user waits.
    """
    # PYTHONDONTWRITEBYTECODE would make source runs recompile changed modules every time; a user's
    # normal run keeps its .pyc files, and the bundle has them built in.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONDONTWRITEBYTECODE")}
    env.update(QT_QPA_PLATFORM="offscreen", UDAP_ONBOARD_FIRST_WINDOW="1", UDAP_ONBOARD_HOME=str(home))
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
        for line in text.splitlines():
            if line.startswith("first-window "):
                return float(line.split()[1]) - started, ended - started, usage.ru_utime + usage.ru_stime
        err.seek(0)
        raise SystemExit(f"{cmd[0]}: no first-window line (rc {proc.returncode})\n{text}\n{err.read()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured launches per variant (default 7)")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each launch (root)")
    parser.add_argument("--onefile", action="store_true", help="also time the one-file bundle")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"), help="interpreter for source")
    args = parser.parse_args(argv)
    cmds = variants(args)
    if len(cmds) == 1:
        print("no bundle in dist/: build one first with packaging/build.sh", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="udap-onboard-bench-"))
    first: dict[str, list[float]] = {name: [] for name in cmds}
    whole: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    try:
        for name, cmd in cmds.items():
            launch(cmd, home)  # warm-up: first-run caches (pyc, fontconfig) out of the way
        names = list(cmds)
        for i in range(args.runs):
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                if args.cold:
                    drop_caches()
                shown, ended, used = launch(cmds[name], home)
                first[name].append(shown)
                whole[name].append(ended)
                cpu[name].append(used)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    kind = "cold (page cache dropped)" if args.cold else "warm"
    load = os.getloadavg()[0]
    print(f"start-up to first window, {kind}, offscreen, {args.runs} runs each, medians (load {load:.1f}):")
    base, base_cpu = statistics.median(first["source"]), statistics.median(cpu["source"])
    for name in cmds:
        f, w, c = statistics.median(first[name]), statistics.median(whole[name]), statistics.median(cpu[name])
        spread = f"{min(first[name]):.3f}-{max(first[name]):.3f}"
        print(f"  {name:<9} first window {f:6.3f} s (range {spread}, ratio {f / base:4.2f})   "
              f"exit {w:6.3f} s   CPU {c:5.3f} s (ratio {c / base_cpu:4.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
