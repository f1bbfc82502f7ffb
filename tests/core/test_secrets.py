"""Secret stores: the secure-backend policy, keyring error mapping, timeouts, the user passphrase."""

from __future__ import annotations

import base64
import threading
import time

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import chainer, fail, null

from app.core.errors import InputError, SecretStoreError
from app.core.secrets import (
    MAX_SECRET_CHARS, SERVICE, TEST_KEYRING_ENV, KeyringSecretStore, MemorySecretStore,
    UserPassphraseStore, is_secure_backend, open_secret_store,
)
from tests.memkeyring import MemoryKeyring


@pytest.fixture(autouse=True)
def no_test_keyring_env(monkeypatch):
    monkeypatch.delenv(TEST_KEYRING_ENV, raising=False)


def fake_backend(module: str, name: str = "Keyring", priority: float = 5, **methods):
    """A duck-typed backend (not a KeyringBackend subclass, so keyring's registry stays clean)."""
    store: dict = {}
    body = {
        "__module__": module, "priority": priority, "name": f"{module} {name}",
        "get_password": lambda self, s, u: store.get((s, u)),
        "set_password": lambda self, s, u, p: store.__setitem__((s, u), p),
        "delete_password": lambda self, s, u: store.pop((s, u)),
    }
    body.update(methods)
    return type(name, (), body)()


class RaisingBackend:
    """Every call fails with the exception given; lives in tests.*, so it may pass as a test backend."""
    priority = 1
    name = "raising"

    def __init__(self, exc):
        self.exc = exc

    def get_password(self, s, u):
        raise self.exc

    set_password = delete_password = lambda self, *a: (_ for _ in ()).throw(self.exc)


class BlockingBackend:
    """A keyring stuck on a prompt nobody answers (released at teardown)."""
    priority = 1
    name = "blocking"

    def __init__(self):
        self.release = threading.Event()

    def get_password(self, s, u):
        self.release.wait()

    def set_password(self, s, u, p):
        self.release.wait()

    def delete_password(self, s, u):
        self.release.wait()


# --- is_secure_backend -------------------------------------------------------------------------

def test_memory_keyring_is_a_test_backend(monkeypatch):
    kr = MemoryKeyring()
    assert kr.priority >= 1
    assert not is_secure_backend(kr)
    assert is_secure_backend(kr, allow_test_backend=True)
    monkeypatch.setenv(TEST_KEYRING_ENV, "1")
    assert is_secure_backend(kr)
    assert not is_secure_backend(kr, allow_test_backend=False)
    monkeypatch.setenv(TEST_KEYRING_ENV, "yes")
    assert not is_secure_backend(kr)


@pytest.mark.parametrize("make", [fail.Keyring, null.Keyring])
def test_fail_and_null_are_not_secure(make, monkeypatch):
    monkeypatch.setenv(TEST_KEYRING_ENV, "1")
    assert not is_secure_backend(make())
    assert not is_secure_backend(make(), allow_test_backend=True)


def test_plaintext_keyrings_alt_is_not_secure():
    for cls in ("PlaintextKeyring", "EncryptedKeyring"):
        assert not is_secure_backend(fake_backend("keyrings.alt.file", cls, priority=10))
    assert not is_secure_backend(fake_backend("keyrings.cryptfile.cryptfile", "CryptFileKeyring"))


def test_os_backends_need_priority_at_least_one():
    assert is_secure_backend(fake_backend("keyring.backends.SecretService", "Keyring", priority=5))
    assert is_secure_backend(fake_backend("keyring.backends.Windows", "WinVaultKeyring", priority=5))
    assert is_secure_backend(fake_backend("keyring.backends.macOS", "Keyring", priority=5))
    assert is_secure_backend(fake_backend("keyring.backends.kwallet", "DBusKeyring", priority=4.9))
    assert not is_secure_backend(fake_backend("keyring.backends.SecretService", "Keyring", priority=0.5))
    # a look-alike elsewhere, or a subclass name we do not know, is not trusted
    assert not is_secure_backend(fake_backend("keyring.backends.SecretService", "PlainKeyring"))
    assert not is_secure_backend(fake_backend("mypkg.SecretService", "Keyring"))
    assert not is_secure_backend(None)


def test_backend_whose_priority_raises_is_not_secure():
    class NotViable:
        __module__ = "keyring.backends.SecretService"

        @property
        def priority(self):
            raise RuntimeError("The Secret Service daemon is neither running nor activatable")

    NotViable.__name__ = "Keyring"
    assert not is_secure_backend(NotViable())


def test_chainer_with_nothing_usable(monkeypatch):
    monkeypatch.setattr(keyring.backend, "_limit", lambda kr: False)
    kr = chainer.ChainerBackend()
    assert list(kr.backends) == []
    assert not is_secure_backend(kr, allow_test_backend=True)


def test_chainer_uses_its_secure_member(monkeypatch):
    monkeypatch.setattr(keyring.backend, "_limit", lambda kr: isinstance(kr, MemoryKeyring))
    kr = chainer.ChainerBackend()
    assert [type(m) for m in kr.backends] == [MemoryKeyring]
    assert not is_secure_backend(kr)
    assert is_secure_backend(kr, allow_test_backend=True)
    store = KeyringSecretStore(backend=kr, allow_test_backend=True)
    assert isinstance(store.backend, MemoryKeyring)


# --- KeyringSecretStore ------------------------------------------------------------------------

def test_keyring_store_round_trip(memory_keyring):
    store = KeyringSecretStore(allow_test_backend=True)
    assert store.is_secure and store.backend is memory_keyring
    assert store.get("a") is None
    store.set("a", "value")
    assert memory_keyring._s[(SERVICE, "a")] == "value"
    assert store.get("a") == "value"
    store.delete("a")
    assert store.get("a") is None
    store.delete("a")  # deleting what is not there is fine


def test_keyring_container_passphrase(memory_keyring):
    store = KeyringSecretStore(allow_test_backend=True)
    with pytest.raises(SecretStoreError) as ei:
        store.container_passphrase("key:x", create=False)
    assert ei.value.code == "passphrase_missing" and ei.value.fields["name"] == "key:x"
    p = store.container_passphrase("key:x", create=True)
    assert len(base64.urlsafe_b64decode(p + b"=")) == 32
    assert memory_keyring._s[(SERVICE, "key:x")] == p.decode()
    assert store.container_passphrase("key:x", create=True) == p
    assert store.container_passphrase("key:x", create=False) == p
    assert store.container_passphrase("key:y", create=True) != p


def test_insecure_backend_is_never_written(memory_keyring):
    store = KeyringSecretStore()  # MemoryKeyring without the test permission
    assert not store.is_secure
    for call in (lambda: store.set("a", "v"), lambda: store.get("a"),
                 lambda: store.container_passphrase("a", create=True)):
        with pytest.raises(SecretStoreError) as ei:
            call()
        assert ei.value.code == "no_secure_keyring"
    assert memory_keyring._s == {}


def test_store_that_drops_writes_is_caught():
    dropping = fake_backend("tests.fake", "Dropping", priority=1, set_password=lambda self, s, u, p: None)
    store = KeyringSecretStore(backend=dropping, allow_test_backend=True)
    with pytest.raises(SecretStoreError) as ei:
        store.container_passphrase("k", create=True)
    assert (ei.value.code, ei.value.fields["operation"]) == ("keyring_refused", "verify")


def test_secret_too_long(memory_keyring):
    store = KeyringSecretStore(allow_test_backend=True)
    with pytest.raises(SecretStoreError) as ei:
        store.set("a", "x" * (MAX_SECRET_CHARS + 1))
    assert ei.value.code == "secret_too_long"
    assert memory_keyring._s == {}
    store.set("a", "x" * MAX_SECRET_CHARS)


@pytest.mark.parametrize("exc,code", [
    (keyring.errors.InitError("Failed to create the collection: Prompt dismissed.."), "keyring_locked"),
    (keyring.errors.KeyringLocked("Failed to unlock the collection!"), "keyring_locked"),
    (keyring.errors.InitError("Failed to create the collection: no bus."), "keyring_unavailable"),
    (keyring.errors.NoKeyringError("No recommended backend was available."), "keyring_unavailable"),
    (keyring.errors.PasswordSetError("Cancelled by user"), "keyring_refused"),
    (keyring.errors.KeyringError("something else"), "keyring_error"),
    (OSError(5, "I/O error"), "keyring_failed"),
    (RuntimeError("boom"), "keyring_failed"),
])
def test_every_keyring_error_is_typed(exc, code):
    store = KeyringSecretStore(backend=RaisingBackend(exc), allow_test_backend=True)
    for call in (lambda: store.get("a"), lambda: store.set("a", "v"),
                 lambda: store.container_passphrase("a", create=True)):
        with pytest.raises(SecretStoreError) as ei:
            call()
        assert ei.value.code == code
        assert ei.value.fields["error"] == type(exc).__name__
        assert ei.value.fields["backend"] == "raising"


def test_delete_refused():
    backend = fake_backend("tests.fake", "NoDelete", priority=1,
                           delete_password=lambda self, s, u: (_ for _ in ()).throw(
                               keyring.errors.PasswordDeleteError("Cancelled by user")))
    store = KeyringSecretStore(backend=backend, allow_test_backend=True)
    store.set("a", "v")
    with pytest.raises(SecretStoreError) as ei:
        store.delete("a")
    assert (ei.value.code, ei.value.fields["operation"]) == ("keyring_refused", "delete")


def test_locked_keyring_times_out():
    backend = BlockingBackend()
    try:
        store = KeyringSecretStore(backend=backend, timeout=0.2, allow_test_backend=True)
        for call in (lambda: store.get("a"), lambda: store.set("a", "v"),
                     lambda: store.container_passphrase("a", create=True)):
            start = time.monotonic()
            with pytest.raises(SecretStoreError) as ei:
                call()
            assert time.monotonic() - start < 2
            assert ei.value.code == "keyring_timeout"
            assert ei.value.fields["seconds"] == 0.2
    finally:
        backend.release.set()


def test_finding_the_backend_is_under_the_timeout_too(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(keyring, "get_keyring", lambda: release.wait() and None)
    try:
        store = KeyringSecretStore(timeout=0.2)
        with pytest.raises(SecretStoreError) as ei:
            store.get("a")
        assert ei.value.code == "keyring_timeout"
        assert store.is_secure is False
    finally:
        release.set()


# --- open_secret_store -------------------------------------------------------------------------

def test_open_prefers_a_secure_keyring(monkeypatch):
    monkeypatch.setenv(TEST_KEYRING_ENV, "1")
    store = open_secret_store(lambda n: pytest.fail("must not ask"))
    assert isinstance(store, KeyringSecretStore) and store.is_secure


@pytest.mark.parametrize("backend", [None, fail.Keyring, null.Keyring])
def test_open_without_secure_keyring(backend):
    if backend is not None:
        keyring.set_keyring(backend())  # the autouse fixture restores the previous one
    store = open_secret_store(lambda n: "typed passphrase here")
    assert isinstance(store, UserPassphraseStore) and not store.is_secure
    with pytest.raises(SecretStoreError) as ei:
        open_secret_store(None)
    assert ei.value.code == "no_secure_keyring"


def test_open_reports_a_stuck_keyring_instead_of_downgrading(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(keyring, "get_keyring", lambda: release.wait() and None)
    try:
        with pytest.raises(SecretStoreError) as ei:
            open_secret_store(lambda n: pytest.fail("must not ask"), timeout=0.2)
        assert ei.value.code == "keyring_timeout"
    finally:
        release.set()


# --- MemorySecretStore / UserPassphraseStore ---------------------------------------------------

def test_memory_store():
    store = MemorySecretStore()
    assert store.is_secure
    store.set("a", "1")
    assert store.get("a") == "1"
    p = store.container_passphrase("k", create=True)
    assert store.get("k") == p.decode() and len(p) == 43
    store.delete("a")
    store.delete("a")
    assert store.get("a") is None


@pytest.fixture
def fast_stretch(monkeypatch):
    """The stretching's rounds do not change what these tests check; the real count is tested below."""
    import app.core.secrets as secrets_mod
    monkeypatch.setattr(secrets_mod, "USER_PASSPHRASE_ROUNDS", 1000)


def test_user_passphrase_stretch_is_slow():
    import app.core.secrets as secrets_mod
    assert secrets_mod.USER_PASSPHRASE_ROUNDS >= 600_000


def test_user_passphrase_store(fast_stretch):
    asked = []

    def ask(name):
        asked.append(name)
        return "a long enough passphrase\n"

    store = UserPassphraseStore(ask)
    assert not store.is_secure and store.backend_name == "passphrase"
    p = store.container_passphrase("key:a", create=True)
    assert store.container_passphrase("key:a", create=False) == p
    assert asked == ["key:a"]  # asked once per session
    assert b"passphrase" not in p and len(base64.urlsafe_b64decode(p + b"=")) == 32
    # same words, same container passphrase (newline and Unicode form do not matter)
    assert UserPassphraseStore(lambda n: "a long enough passphrase").container_passphrase("key:a", False) == p
    assert UserPassphraseStore(lambda n: "a long enough passphrase").container_passphrase("key:b", False) != p
    store.forget_passphrase("key:a")
    store.container_passphrase("key:a", create=False)
    assert asked == ["key:a", "key:a"]
    for call in (lambda: store.get("x"), lambda: store.set("x", "v")):
        with pytest.raises(SecretStoreError) as ei:
            call()
        assert ei.value.code == "no_secure_keyring"


def test_user_passphrase_unicode_forms_agree(fast_stretch):
    nfc, nfd = "caf\u00e9 passphrase!", "cafe\u0301 passphrase!"
    assert (UserPassphraseStore(lambda n: nfc).container_passphrase("k", True)
            == UserPassphraseStore(lambda n: nfd).container_passphrase("k", True))


@pytest.mark.parametrize("answer", ["", "\n", None])
def test_user_passphrase_missing(answer):
    with pytest.raises(SecretStoreError) as ei:
        UserPassphraseStore(lambda n: answer).container_passphrase("k", create=False)
    assert ei.value.code == "passphrase_missing"


def test_user_passphrase_eof_is_missing():
    def ask(name):
        raise EOFError

    with pytest.raises(SecretStoreError) as ei:
        UserPassphraseStore(ask).container_passphrase("k", create=True)
    assert ei.value.code == "passphrase_missing"


def test_new_user_passphrase_too_short():
    with pytest.raises(InputError) as ei:
        UserPassphraseStore(lambda n: "tiny-pw1").container_passphrase("k", create=True)
    assert ei.value.code == "passphrase_too_short" and ei.value.fields["minimum"] == 12
    assert "tiny-pw1" not in str(ei.value)
