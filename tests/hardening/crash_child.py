"""Fork server for test_crash.py: forks writers that save a profile, a key and a registration forever.

Starting Python + cryptography costs ~0.2 s, too much for hundreds of kills, so this process
imports once and forks one writer per kill; the test SIGKILLs the writer at a random instant.
A small shared-memory state file says which version each file had (committed) and which one was
being written (inflight), so the test can demand "old or new" exactly, and where the writer was
when it died (file, stage), so the test can show that kills land inside atomic_write.

Run as ``python crash_child.py WORKDIR``; one JSON object per line on stdout answers each
command read from stdin: ``go`` (fork a writer, answer its pid, then how it died), ``cycle``
(one clean save of every file in this process), ``quit``. ``--torn`` swaps atomic_write for an
in-place write, so the test can show it notices torn files.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
import time
import traceback
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core import keys, storage  # noqa: E402
from app.core.profile import Profile, ProfileStore  # noqa: E402
from app.core.secrets import SecretStore  # noqa: E402

VERSIONS = 3  # rotating A -> B -> C: "old or new" then excludes the version before the old one
FILES = ("profile", "key", "registration")
STAGES = ("prepare", "write_temp", "temp_written", "keep_previous", "replace", "fsync_dir", "cleanup", "done")
PROFILE, REGISTRY = "clinic", "registry"
SECRET_NAME = "key-crash-test"
ENDPOINT, COMMUNITY, ISS = "https://as.example.org/register", "udap://crash.example/", "https://clinic.example.org/udap"
# The container format and atomic_write path are the same at any round count; 600,000 rounds
# would make every kill land inside PBKDF2 (0.15 s per save) instead of inside the file writes.
FAST_KDF_ROUNDS = 1000
NO_FILE = 255


class FileSecretStore(SecretStore):
    """Tests only: secrets in a JSON file so the passphrase outlives each killed writer."""

    is_secure = True
    backend_name = "test-file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _all(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}

    def get(self, name: str) -> str | None:
        return self._all().get(name)

    def set(self, name: str, value: str) -> None:
        values = self._all()
        values[name] = value
        storage.atomic_write(self.path, json.dumps(values).encode("utf-8"))

    def delete(self, name: str) -> None:
        values = self._all()
        values.pop(name, None)
        storage.atomic_write(self.path, json.dumps(values).encode("utf-8"))


class State:
    """8 shared bytes: committed/inflight version per file, the file under way, its stage."""

    SIZE = 8

    def __init__(self, path: str | Path, create: bool = False) -> None:
        path = Path(path)
        if create:
            path.write_bytes(bytes([0, 0, 0, 0, 0, 0, NO_FILE, len(STAGES) - 1]))
        self._fh = open(path, "r+b")
        self._map = mmap.mmap(self._fh.fileno(), self.SIZE)

    def committed(self, i: int) -> int:
        return self._map[2 * i]

    def inflight(self, i: int) -> int:
        return self._map[2 * i + 1]

    def begin(self, i: int, version: int) -> None:
        self._map[2 * i + 1] = version
        self._map[6] = i
        self._map[7] = 0

    def commit(self, i: int, version: int) -> None:
        self._map[2 * i] = version
        self._map[7] = len(STAGES) - 1

    def settle(self, i: int, version: int) -> None:
        """What is on disk now (after a kill): committed and inflight both."""
        self._map[2 * i] = self._map[2 * i + 1] = version

    def set_stage(self, stage: int) -> None:
        self._map[7] = stage

    def where(self) -> tuple[str, str]:
        i = self._map[6]
        return (FILES[i] if i < len(FILES) else "none"), STAGES[self._map[7]]

    def close(self) -> None:
        self._map.close()
        self._fh.close()


# ---------------------------------------------------------------- versions: write and recognize

def profile_for(version: int) -> Profile:
    letter = "ABC"[version]
    return Profile(name=PROFILE, org_name=f"Org {version}", client_name="Crash Test Client",
                   client_uri=ISS, contacts=["mailto:it@clinic.example.org"],
                   extra={"notes": letter * 6000})  # a few KiB, so a torn write would show


def profile_version(store: ProfileStore) -> int:
    p = store.load(PROFILE)
    version = int(p.org_name.split()[-1])
    if p.extra.get("notes") != "ABC"[version] * 6000:
        raise AssertionError(f"profile mixes versions: org {version}, notes {str(p.extra.get('notes'))[:20]!r}")
    return version


def registration_version(store: ProfileStore) -> int:
    rec = store.load(REGISTRY).registration_for(ENDPOINT, COMMUNITY, ISS)
    if rec is None:
        raise AssertionError("registration record lost")
    version = int(rec["client_id"].split("-")[1])
    if rec.get("granted", {}).get("scope") != f"system/Patient.read v{version}":
        raise AssertionError(f"registration record mixes versions: {rec}")
    return version


class Writer:
    """Saves version v of file i exactly as the app does, recording progress in State."""

    def __init__(self, home: Path, secrets: SecretStore, key_set: list, state: State) -> None:
        self.store = ProfileStore(home)
        self.secrets, self.key_set, self.state = secrets, key_set, state
        self.key_path = self.store.path(PROFILE) / "key.p12"

    def save(self, i: int, version: int) -> None:
        self.state.begin(i, version)
        if i == 0:
            self.store.save(profile_for(version))
        elif i == 1:
            keys.save_key(self.key_path, self.key_set[version], self.secrets, SECRET_NAME, replace=True)
        else:  # the way onboarding.register keeps a result: load, record, save
            p = self.store.load(REGISTRY)
            p.record_registration(ENDPOINT, COMMUNITY, ISS, {"client_id": f"client-{version}",
                                                             "granted": {"scope": f"system/Patient.read v{version}"}})
            self.store.save(p)
        self.state.commit(i, version)

    def initial(self) -> None:
        self.store.save(profile_for(0))
        keys.save_key(self.key_path, self.key_set[0], self.secrets, SECRET_NAME, replace=True)
        reg = Profile(name=REGISTRY, client_uri=ISS)
        reg.record_registration(ENDPOINT, COMMUNITY, ISS, {"client_id": "client-0",
                                                           "granted": {"scope": "system/Patient.read v0"}})
        self.store.save(reg)
        for i in range(len(FILES)):
            self.state.settle(i, 0)

    def cycle(self) -> None:
        for i in range(len(FILES)):
            self.save(i, (self.state.committed(i) + 1) % VERSIONS)


def instrument(state: State) -> None:
    """Record the atomic_write stage a writer is in (module globals are looked up at call time)."""
    def staged(fn, on_entry: str, on_return: str):
        def wrapper(*args, **kwargs):
            state.set_stage(STAGES.index(on_entry))
            result = fn(*args, **kwargs)
            state.set_stage(STAGES.index(on_return))
            return result
        return wrapper

    storage._write_temp = staged(storage._write_temp, "write_temp", "temp_written")
    storage._keep_previous = staged(storage._keep_previous, "keep_previous", "replace")
    storage._fsync_dir = staged(storage._fsync_dir, "fsync_dir", "cleanup")
    storage.discard_stale_temps = staged(storage.discard_stale_temps, "cleanup", "done")


def tear_writes() -> None:
    """Self-test mode: write files in place, chunk by chunk, as a naive app would; kills then tear them."""
    def torn_write(path, data: bytes, mode: int = 0o600, keep_previous: bool = False) -> Path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            for start in range(0, len(data), 512):
                os.write(fd, data[start:start + 512])
                time.sleep(0.0002)  # a slow disk, even where fsync is free (tmpfs)
        finally:
            os.close(fd)
        return Path(path)

    import app.core.profile

    app.core.profile.atomic_write = keys.atomic_write = torn_write


def send(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def calibrate(writer: Writer, rounds: int = 5) -> float:
    """Median time from fork to the end of a writer's first cycle: the window the kills must cover."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                writer.cycle()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - started)
    return sorted(times)[rounds // 2]


def main(workdir: Path) -> None:
    keys.KDF_ROUNDS = FAST_KDF_ROUNDS
    secrets = FileSecretStore(workdir / "keyring.json")
    key_set = [keys.generate_key(keys.KeyType.EC_P256) for _ in range(VERSIONS)]
    state = State(workdir / "state.bin", create=True)
    instrument(state)
    if "--torn" in sys.argv:
        tear_writes()
    writer = Writer(workdir / "home", secrets, key_set, state)
    writer.initial()
    send({"ready": True, "cycle_seconds": calibrate(writer),
          "fingerprints": [keys.public_key_fingerprint(k) for k in key_set]})
    while True:
        command = sys.stdin.readline().strip()
        if command == "go":
            pid = os.fork()
            if pid == 0:
                try:
                    while True:
                        writer.cycle()
                except BaseException:  # a writer must only ever die by the test's SIGKILL
                    traceback.print_exc()
                finally:
                    os._exit(70)
            send({"pid": pid})
            _, status = os.waitpid(pid, 0)
            send({"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                  "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None})
        elif command == "cycle":
            writer.cycle()
            send({"done": True})
        else:  # "quit" or the test went away
            return


if __name__ == "__main__":
    main(Path(sys.argv[1]))
