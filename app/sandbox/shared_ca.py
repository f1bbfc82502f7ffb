"""One practice CA per data folder per process, shared by every PracticeServer started on it.

The CA's AIA and CRL URLs carry one persisted plain-http port, so two servers of the same data
folder cannot each listen on it: the first server to start opens the CA and its http listener,
later ones borrow both, and the last one to stop closes the listener. Sharing the PracticeCA
instance also keeps one in-memory state (revocations, CRL numbers, state.json writes) and one
decryption of each CA key. Another *process* on the same folder still gets ``http_port_in_use``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from app.sandbox.ca import PracticeCA

# open_listener(ca) -> a started listener with stop(); it raises SandboxError("http_port_in_use").
OpenListener = Callable[[PracticeCA], Any]


@dataclass
class _Site:
    ca: PracticeCA
    listener: Any
    users: int = 1


_sites: dict[Path, _Site] = {}
_lock = threading.Lock()


def _key(folder: str | Path) -> Path:
    return Path(folder).resolve()


def acquire(folder: str | Path, secrets, *, now: datetime, open_listener: OpenListener) -> tuple[PracticeCA, bool]:
    """(the folder's CA, True for the first user): the first user also owns the remembered https port."""
    key = _key(folder)
    with _lock:
        site = _sites.get(key)
        if site is not None:
            site.users += 1
            return site.ca, False
        ca = PracticeCA.open(folder, secrets, now=now)
        _sites[key] = _Site(ca, open_listener(ca))  # nothing is recorded if the port is taken
        return ca, True


def release(folder: str | Path) -> None:
    """One user fewer; the last one stops the http listener (and waits for its requests)."""
    key = _key(folder)
    with _lock:
        site = _sites.get(key)
        if site is None:
            return
        site.users -= 1
        if site.users > 0:
            return
        del _sites[key]
    site.listener.stop()


def users(folder: str | Path) -> int:
    """How many running servers share this folder's CA (0 when none); for tests and diagnostics."""
    with _lock:
        site = _sites.get(_key(folder))
        return site.users if site else 0
