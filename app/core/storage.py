"""Owner-only, crash-safe files: every file the app owns goes through here.

A crash (or SIGKILL) at any instant must leave either the old file or the new one, never a mix,
and nothing we write may be readable by other users whatever the process umask is.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import time
from pathlib import Path

import platformdirs

from app.core.errors import StorageError

APP_NAME = "udap-onboard"
HOME_ENV = "UDAP_ONBOARD_HOME"
TEMP_SUFFIX = ".tmp"
PREV_SUFFIX = ".prev"
_POSIX = os.name == "posix"
# A temp file left by a crashed writer on a platform where we cannot ask "is that pid alive?".
_STALE_TEMP_AGE = 3600.0

_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}
_FULL = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def _reason(exc: OSError) -> str:
    """A stable, prose-free reason for an OS failure (errno name, else the exception type)."""
    if exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


def _write_error(exc: OSError, path: Path) -> StorageError:
    if exc.errno in _READ_ONLY:
        return StorageError("read_only", path=str(path), reason=_reason(exc))
    if exc.errno in _FULL:
        return StorageError("disk_full", path=str(path), reason=_reason(exc))
    return StorageError("write_failed", path=str(path), reason=_reason(exc))


def data_home(override: str | Path | None = None) -> Path:
    """The per-user data folder: --home, else $UDAP_ONBOARD_HOME, else the platform's own place."""
    if override:
        base = Path(override)
    elif os.environ.get(HOME_ENV):
        base = Path(os.environ[HOME_ENV])
    else:
        base = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return ensure_private_dir(base.expanduser())


def ensure_private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; strip group/other bits from an existing one.

    An existing folder is only tightened, never given back owner write: a folder the user made
    read-only stays read-only, and writes then fail with ``read_only`` instead of silently
    succeeding.
    """
    path = Path(path)
    missing: list[Path] = []
    p = path
    while not p.exists():
        if p.is_symlink():  # dangling symlink: refuse to create through it
            raise StorageError("write_failed", path=str(p), reason="dangling_symlink")
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise _write_error(exc, d) from None
        _chmod(d, 0o700)
    if not path.is_dir():
        raise StorageError("not_a_directory", path=str(path))
    if path not in missing:
        try:
            current = stat.S_IMODE(path.stat().st_mode)
        except OSError as exc:
            raise _write_error(exc, path) from None
        if current & 0o077:
            _chmod(path, current & 0o700)
    return path


def _chmod(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode)
    except OSError as exc:
        raise _write_error(exc, path) from None


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; not possible (nor needed) on Windows."""
    if not _POSIX:
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def temp_owner_pid(name: str) -> int | None:
    """The writer's pid in a temp file name made by ``_temp_name`` (``.<name>.<pid>.<hex>.tmp``)."""
    parts = name.rsplit(".", 3)
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() and parts[3] == TEMP_SUFFIX[1:] else None


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    tmp = _temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as exc:
        raise _write_error(exc, path) from None
    try:
        try:
            if _POSIX:
                os.fchmod(fd, mode)  # umask-independent
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if not _POSIX:
            os.chmod(tmp, mode)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise _write_error(exc, path) from None
    return tmp


def _keep_previous(path: Path, mode: int) -> None:
    """Atomically make ``<name>.prev`` the current file (a hard link, else a copy)."""
    prev = path.with_name(path.name + PREV_SUFFIX)
    tmp = _temp_name(prev)
    try:
        os.link(path, tmp)
    except FileNotFoundError:
        return
    except OSError:
        try:
            with open(path, "rb") as fh:
                old = fh.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _write_error(exc, prev) from None
        tmp = _write_temp(prev, old, mode)
    try:
        os.replace(tmp, prev)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise _write_error(exc, prev) from None


def atomic_write(path: str | Path, data: bytes, mode: int = 0o600, keep_previous: bool = False) -> Path:
    """Write ``data`` to ``path`` so that readers only ever see the old file or the new one.

    Temp file in the same folder, fsync, optional ``.prev`` of the current file, ``os.replace``,
    fsync of the folder. A missing folder is created owner-only. Returns ``path``.
    """
    path = Path(path)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("atomic_write takes bytes")
    if not path.parent.exists():
        ensure_private_dir(path.parent)
    tmp = _write_temp(path, bytes(data), mode)
    try:
        if keep_previous:
            _keep_previous(path, mode)
        os.replace(tmp, path)
    except StorageError:
        _unlink_quietly(tmp)
        raise
    except OSError as exc:
        _unlink_quietly(tmp)
        raise _write_error(exc, path) from None
    _fsync_dir(path.parent)
    discard_stale_temps(path)
    return path


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # POSIX only: on Windows os.kill would terminate the process
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def discard_stale_temps(path: str | Path) -> int:
    """Remove temp files a killed writer left next to ``path`` (and its ``.prev``); returns the count."""
    path = Path(path)
    removed = 0
    prefixes = (f".{path.name}{PREV_SUFFIX}.", f".{path.name}.")  # longest first
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    for entry in entries:
        n = entry.name
        if not n.endswith(TEMP_SUFFIX) or not n.startswith(prefixes):
            continue
        pid = temp_owner_pid(n)
        if pid is None or pid == os.getpid():
            continue
        if _POSIX:
            stale = not _pid_alive(pid)
        else:
            try:
                stale = time.time() - entry.stat().st_mtime > _STALE_TEMP_AGE
            except OSError:
                stale = False
        if stale:
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def read_bounded(path: str | Path, limit: int) -> bytes:
    """Read a whole file but refuse one larger than ``limit`` bytes (never loads more than limit+1)."""
    path = path if isinstance(path, Path) else Path(path)  # Path(a Path) parses it again (~7 µs)
    try:
        with open(path, "rb") as fh:
            # Sized to the file: read(limit + 1) allocates the whole limit first (~60 µs for 8 MB).
            size = os.fstat(fh.fileno()).st_size
            data = fh.read(min(size, limit) + 1)
            if size < len(data) <= limit:  # grew since fstat (or st_size says 0, as in /proc): read on
                data += fh.read(limit + 1 - len(data))
    except FileNotFoundError:
        raise StorageError("file_not_found", path=str(path)) from None
    except OSError as exc:
        raise StorageError("file_unreadable", path=str(path), reason=_reason(exc)) from None
    if len(data) > limit:
        raise StorageError("file_too_large", path=str(path), limit=limit)
    if not data:
        raise StorageError("file_empty", path=str(path))
    return data

