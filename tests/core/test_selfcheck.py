"""``udap-onboard --self-check``: in-process with the memory keyring, and as ``python -m app --self-check``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from app import selfcheck
from app.resources import ENV_OVERRIDE, resource_root

ROOT = Path(__file__).resolve().parents[2]
NAMES = [name for name, _ in selfcheck.CHECKS]


def run() -> tuple[int, list[str]]:
    lines: list[str] = []
    rc = selfcheck.run_self_check(out=lines.append)
    return rc, lines


def result(lines: list[str], name: str) -> str:
    found = [line for line in lines[1:-1] if line[6:6 + len(name)] == name]
    assert len(found) == 1, lines
    return found[0]


def test_every_check_passes_with_a_memory_keyring(qapp):
    rc, lines = run()
    assert rc == 0, "\n".join(lines)
    assert lines[-1].startswith(f"self-check passed: {len(NAMES)} checks")
    assert [line.split()[0] for line in lines[1:-1]] == ["ok"] * len(NAMES)
    assert result(lines, "keyring").endswith("read back and deleted via memkeyring MemoryKeyring")
    assert "none shipped" in result(lines, "translations")
    assert "discovery over TLS verified, stopped" in result(lines, "practice community")
    assert "tampered copy was rejected" in result(lines, "jws")
    for line in lines[1:-1]:
        assert " ms  " in line  # each line carries its time


def test_no_secure_keyring_is_said_plainly_and_is_not_a_failure():
    old = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        detail = selfcheck.check_keyring()
    finally:
        keyring.set_keyring(old)
    assert detail.startswith("no secure keyring on this system (backend: fail Keyring)")
    assert detail.endswith("Not a failure")


def test_missing_keyring_metadata_fails(monkeypatch):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [])
    with pytest.raises(selfcheck.CheckFailed, match="metadata is missing"):
        selfcheck.check_keyring()


def test_missing_resources_fail_but_every_check_still_runs(qapp, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_OVERRIDE, str(tmp_path))
    rc, lines = run()
    assert rc == 1
    assert result(lines, "resources").startswith("FAIL")
    assert "icons/udap-onboard.svg" in result(lines, "resources")
    assert len(lines) == len(NAMES) + 2
    assert lines[-1].startswith("self-check FAILED: ")


@pytest.mark.parametrize("victim, damage, expect", [
    ("udap-onboard.ico", lambda b: b[:200], "not a readable image"),
    ("udap-onboard.icns", lambda b: b[:100] + b"\xff" * 8 + b[108:], "udap-onboard.icns"),
    ("udap-onboard-32.png", lambda b: b[:60], "not a readable image"),
])
def test_a_damaged_icon_fails(qapp, monkeypatch, tmp_path, victim, damage, expect):
    copy = tmp_path / "resources"
    shutil.copytree(resource_root(), copy)
    target = copy / "icons" / victim
    target.write_bytes(damage(target.read_bytes()))
    monkeypatch.setenv(ENV_OVERRIDE, str(copy))
    with pytest.raises(selfcheck.CheckFailed, match=expect):
        selfcheck.check_resources()


def test_a_png_of_the_wrong_size_fails(qapp, monkeypatch, tmp_path):
    copy = tmp_path / "resources"
    shutil.copytree(resource_root(), copy)
    shutil.copy(copy / "icons" / "udap-onboard-16.png", copy / "icons" / "udap-onboard-32.png")
    monkeypatch.setenv(ENV_OVERRIDE, str(copy))
    with pytest.raises(selfcheck.CheckFailed, match="16x16 px, not 32"):
        selfcheck.check_resources()


def test_python_m_app_self_check(tmp_path):
    """The real entry point in a fresh process; the user's data folder is never touched."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHON_KEYRING_BACKEND="tests.memkeyring.MemoryKeyring",
               UDAP_ONBOARD_TEST_KEYRING="1", UDAP_ONBOARD_HOME=str(data), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "app", "--self-check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("udap-onboard ") and "(source " in lines[0]
    assert lines[-1].startswith("self-check passed")
    assert "dummy secret stored, read back and deleted" in result(lines, "keyring")
    assert "platform offscreen" in result(lines, "qt widgets")
    assert not data.exists()


def test_python_m_app_self_check_fails_with_exit_1(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               UDAP_ONBOARD_HOME=str(tmp_path / "data"), PYTHONPATH=str(ROOT), **{ENV_OVERRIDE: str(tmp_path)})
    proc = subprocess.run([sys.executable, "-m", "app", "--self-check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  resources" in proc.stdout
    assert "no secure keyring on this system" in proc.stdout


def test_a_missing_system_library_says_what_to_do():
    exc = ImportError("libGL.so.1: cannot open shared object file: No such file or directory")
    text = selfcheck._describe_failure(exc)
    assert text.startswith("libGL.so.1: cannot open shared object file")
    assert "a system library is missing" in text
