import os
import sys
from pathlib import Path

# Offscreen unless a real or Xvfb display was given; must happen before Qt is imported.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/runtime-udap-tests")
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
# httpx reads SSL_CERT_FILE before certifi; a stale value must not break the tests.
for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
    if os.environ.get(var) and not os.path.exists(os.environ[var]):
        del os.environ[var]

# The in-memory test keyring counts as a secure store only when tests say so (app/core/secrets.py).
os.environ.setdefault("UDAP_ONBOARD_TEST_KEYRING", "1")

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def memory_keyring(request):
    """Every test gets a fresh in-memory keyring, except those that use the real Secret Service."""
    if request.node.get_closest_marker("secret_service"):
        yield None
        return
    import keyring

    from tests.memkeyring import MemoryKeyring

    old = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(old)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A throwaway data folder, as --home / UDAP_ONBOARD_HOME would give."""
    h = tmp_path / "home"
    monkeypatch.setenv("UDAP_ONBOARD_HOME", str(h))
    return h
