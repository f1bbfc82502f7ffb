"""Owner-only atomic files: permissions whatever the umask, old-or-new on failure, clear errors."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from app.core import storage
from app.core.errors import StorageError
from app.core.storage import atomic_write, data_home, discard_stale_temps, ensure_private_dir, read_bounded

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def temps(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


@pytest.fixture
def umask0():
    old = os.umask(0)
    yield
    os.umask(old)


# -- read-only folders that really are read-only, even for root ---------------------------------

_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop_dac_capabilities() -> None:
    """In the child, before exec: without these two capabilities root obeys permission bits."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_checked(code: str, env_home: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a child that permission bits bind (as root: with DAC override capabilities dropped).

    chmod 0500 does not stop root, so for root the check runs in a child process whose capability
    bounding set lacks CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH; a 0500 folder is then read-only for it.
    """
    env = dict(os.environ, UDAP_ONBOARD_HOME=str(env_home), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, env=env, preexec_fn=_drop_dac_capabilities if IS_ROOT else None)


def _ro_supported() -> bool:
    if os.name != "posix":
        return False
    if not IS_ROOT:
        return True
    probe = Path(tempfile.mkdtemp(prefix="udap-ro-probe-"))
    try:
        os.chmod(probe, 0o500)
        result = run_checked(f"open({str(probe / 'x')!r}, 'w')", probe)
        return result.returncode != 0 and "PermissionError" in result.stderr and not (probe / "x").exists()
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        os.chmod(probe, 0o700)
        shutil.rmtree(probe, ignore_errors=True)


RO_SUPPORTED = _ro_supported()
needs_ro = pytest.mark.skipif(not RO_SUPPORTED, reason="running as root without the right to drop "
                              "CAP_DAC_OVERRIDE, so chmod 0500 cannot make a folder read-only here")


# -- atomic_write -------------------------------------------------------------------------------

@posix_only
def test_atomic_write_owner_only_even_with_umask_zero(tmp_path, umask0):
    target = tmp_path / "a" / "b" / "file.json"
    atomic_write(target, b"one")
    assert target.read_bytes() == b"one"
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700 and mode(target.parent.parent) == 0o700


@posix_only
def test_atomic_write_replaces_a_loose_file_with_a_private_one(tmp_path, umask0):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    os.chmod(target, 0o666)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o600


@posix_only
def test_atomic_write_mode_is_exact_not_umasked(tmp_path):
    old = os.umask(0o077)
    try:
        atomic_write(tmp_path / "g", b"x", mode=0o640)
    finally:
        os.umask(old)
    assert mode(tmp_path / "g") == 0o640


@posix_only
def test_keep_previous_keeps_old_version_private(tmp_path, umask0):
    target = tmp_path / "p.json"
    atomic_write(target, b"v1", keep_previous=True)
    assert not (tmp_path / "p.json.prev").exists()  # nothing to keep yet
    atomic_write(target, b"v2", keep_previous=True)
    atomic_write(target, b"v3", keep_previous=True)
    assert target.read_bytes() == b"v3"
    assert (tmp_path / "p.json.prev").read_bytes() == b"v2"
    assert mode(tmp_path / "p.json.prev") == 0o600
    assert temps(tmp_path) == []


def test_keep_previous_falls_back_to_a_copy_without_hard_links(tmp_path, monkeypatch):
    target = tmp_path / "p.json"
    atomic_write(target, b"v1")

    def no_link(*a, **k):
        raise OSError(errno.EPERM, "no hard links here")
    monkeypatch.setattr(storage.os, "link", no_link)
    atomic_write(target, b"v2", keep_previous=True)
    assert (tmp_path / "p.json.prev").read_bytes() == b"v1" and target.read_bytes() == b"v2"


@pytest.mark.parametrize("err, code", [(errno.ENOSPC, "disk_full"), (errno.EROFS, "read_only"),
                                       (errno.EIO, "write_failed")])
def test_failed_replace_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch, err, code):
    target = tmp_path / "f"
    atomic_write(target, b"old")

    def boom(*a, **k):
        raise OSError(err, os.strerror(err))
    monkeypatch.setattr(storage.os, "replace", boom)
    with pytest.raises(StorageError) as info:
        atomic_write(target, b"new")
    assert info.value.code == code and info.value.fields["path"] == str(target)
    assert info.value.fields["reason"] == errno.errorcode[err]
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and temps(tmp_path) == []


def test_failed_write_midway_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f"
    atomic_write(target, b"old")
    real_write = os.write
    calls = []

    def short_then_fail(fd, data):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "full")
        return real_write(fd, bytes(data)[:3])  # a short write first: the loop must continue
    monkeypatch.setattr(storage.os, "write", short_then_fail)
    with pytest.raises(StorageError) as info:
        atomic_write(target, b"new content")
    assert info.value.code == "disk_full"
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and temps(tmp_path) == []


def test_short_writes_are_completed(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(storage.os, "write", lambda fd, data: real_write(fd, bytes(data)[:2]))
    atomic_write(tmp_path / "f", b"0123456789")
    monkeypatch.undo()
    assert (tmp_path / "f").read_bytes() == b"0123456789"


def test_target_that_is_a_folder_is_refused_and_kept(tmp_path):
    target = tmp_path / "f"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(StorageError) as info:
        atomic_write(target, b"x")
    assert info.value.code == "write_failed"
    assert (target / "inside").read_text() == "keep" and temps(tmp_path) == []


def test_atomic_write_wants_bytes(tmp_path):
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "f", "text")  # type: ignore[arg-type]


@needs_ro
def test_read_only_folder_gives_read_only_and_loses_nothing(tmp_path):
    data = tmp_path / "data"
    target = data / "f.json"
    atomic_write(target, b"precious")
    os.chmod(data, 0o500)
    try:
        result = run_checked(f"""
            from app.core.errors import StorageError
            from app.core.storage import atomic_write
            try:
                atomic_write({str(target)!r}, b"new", keep_previous=True)
                print("WROTE")
            except StorageError as e:
                print(e.code, e.fields["path"])
            """, data)
    finally:
        os.chmod(data, 0o700)
    assert result.stdout.split() == ["read_only", str(target)], result.stderr
    assert target.read_bytes() == b"precious"
    assert sorted(os.listdir(data)) == ["f.json"]


# -- folders ------------------------------------------------------------------------------------

@posix_only
def test_data_home_prefers_override_then_env_then_platform(tmp_path, monkeypatch, umask0):
    monkeypatch.setattr(storage.platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "platform"))
    monkeypatch.delenv("UDAP_ONBOARD_HOME", raising=False)
    assert data_home() == tmp_path / "platform"
    monkeypatch.setenv("UDAP_ONBOARD_HOME", str(tmp_path / "env"))
    assert data_home() == tmp_path / "env"
    assert data_home(tmp_path / "cli") == tmp_path / "cli"
    for name in ("platform", "env", "cli"):
        assert mode(tmp_path / name) == 0o700


def test_data_home_uses_the_home_fixture(home):
    assert data_home() == home and home.is_dir()


@posix_only
def test_ensure_private_dir_tightens_but_never_loosens(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o755)
    ensure_private_dir(loose)
    assert mode(loose) == 0o700
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    ensure_private_dir(locked)
    assert mode(locked) == 0o500  # a folder made read-only on purpose stays read-only
    os.chmod(locked, 0o700)


def test_ensure_private_dir_on_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StorageError) as info:
        ensure_private_dir(tmp_path / "f")
    assert info.value.code == "not_a_directory"


# -- read_bounded -------------------------------------------------------------------------------

def test_read_bounded_limits(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x" * 10)
    assert read_bounded(f, 10) == b"x" * 10
    with pytest.raises(StorageError) as info:
        read_bounded(f, 9)
    assert info.value.code == "file_too_large" and info.value.fields == {"path": str(f), "limit": 9}


@pytest.mark.parametrize("make, code", [
    (lambda p: None, "file_not_found"),
    (lambda p: p.write_bytes(b""), "file_empty"),
    (lambda p: p.mkdir(), "file_unreadable"),
])
def test_read_bounded_errors(tmp_path, make, code):
    p = tmp_path / "f"
    make(p)
    with pytest.raises(StorageError) as info:
        read_bounded(p, 100)
    assert info.value.code == code and info.value.fields["path"] == str(p)


# -- temp files left by killed writers ------------------------------------------------------------

@posix_only
def test_discard_stale_temps_only_removes_dead_writers(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    target = tmp_path / "profile.json"
    stale = [tmp_path / f".profile.json.{dead}.aa.tmp", tmp_path / f".profile.json.prev.{dead}.bb.tmp"]
    alive = [tmp_path / f".profile.json.{os.getppid()}.cc.tmp", tmp_path / f".profile.json.{os.getpid()}.dd.tmp",
             tmp_path / f".other.json.{dead}.ee.tmp"]
    for p in stale + alive:
        p.write_bytes(b"x")
    assert discard_stale_temps(target) == 2
    assert sorted(temps(tmp_path)) == sorted(p.name for p in alive)
