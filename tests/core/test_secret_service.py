"""The one test against a real Secret Service: gnome-keyring in a private D-Bus session."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs inside the private session; prints one line starting with OK when everything held.
CHILD = r"""
import sys
from pathlib import Path
from app.core.keys import KeyType, generate_key, load_key, public_key_fingerprint, save_key
from app.core.secrets import KeyringSecretStore, is_secure_backend, open_secret_store

store = open_secret_store(None, timeout=20)
assert isinstance(store, KeyringSecretStore), type(store)
assert store.backend_name == "SecretService", store.backend_name
assert store.is_secure and is_secure_backend(store.backend)

store.set("probe", "v1")
assert store.get("probe") == "v1"
store.delete("probe")
assert store.get("probe") is None

path = Path(sys.argv[1]) / "profiles" / "clinic" / "key.p12"
key = generate_key(KeyType.EC_P256)
save_key(path, key, store, "key:clinic")
# a fresh store: the passphrase must come back from the keyring, not from memory
again = load_key(path, KeyringSecretStore(timeout=20), "key:clinic")
assert public_key_fingerprint(again.key) == public_key_fingerprint(key)
assert b"PRIVATE KEY" not in path.read_bytes()
print("OK", store.backend_name)
"""

UNLOCK = 'eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets)"; exec "$0" -c "$1" "$2"'


@pytest.mark.secret_service
def test_real_secret_service_round_trip(tmp_path):
    missing = [tool for tool in ("dbus-run-session", "gnome-keyring-daemon") if not shutil.which(tool)]
    if missing:
        message = f"{', '.join(missing)} not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: .ci/run must install gnome-keyring and dbus")
        pytest.skip(message)

    home = tmp_path / "home"
    runtime = tmp_path / "runtime"
    data = tmp_path / "data"
    for d in (home, runtime, data):
        d.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "DBUS_", "GNOME_KEYRING", "PYTHON_KEYRING", "UDAP_ONBOARD"))
           and k not in ("DISPLAY", "WAYLAND_DISPLAY", "SSH_AUTH_SOCK")}
    # No DISPLAY: with one, gcr would open an invisible unlock prompt and the run would hang.
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), UDAP_ONBOARD_HOME=str(data),
               PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        # Output goes to files, not pipes: a daemon that keeps a pipe open must not stall us.
        proc = subprocess.Popen(
            ["dbus-run-session", "--", "bash", "-c", UNLOCK, sys.executable, CHILD, str(data)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail("the Secret Service round trip did not finish within 60 s")
        finally:
            try:  # a gnome-keyring-daemon that outlived its bus
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    assert rc == 0, f"rc={rc}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert "OK SecretService" in stdout, stdout + stderr
    assert (data / "profiles" / "clinic" / "key.p12").is_file()
