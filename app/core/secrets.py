"""Where the key container's passphrase lives: the OS keyring, or the user's head; never a plain file.

A keyring backend is trusted only if it is a real OS store (allow-list below). Every keyring call
runs in a daemon thread with a timeout, because a locked keyring may sit on an invisible prompt
forever, and every keyring failure becomes a typed ``SecretStoreError``.
"""

from __future__ import annotations

import base64
import os
import threading
import unicodedata
from abc import ABC, abstractmethod
from typing import Any, Callable, TypeVar

import keyring
import keyring.errors
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from keyring.backends.chainer import ChainerBackend

from app.core.errors import InputError, SecretStoreError

SERVICE = "udap-onboard"
DEFAULT_TIMEOUT = 10.0
# Windows Credential Manager stores at most 2,560 bytes (about 1,280 UTF-16 characters).
MAX_SECRET_CHARS = 1024
MIN_USER_PASSPHRASE = 12
TEST_KEYRING_ENV = "UDAP_ONBOARD_TEST_KEYRING"
# PBKDF2 rounds for stretching a typed passphrase; see UserPassphraseStore.
USER_PASSPHRASE_ROUNDS = 600_000

# (module, class name) of the backends that are real OS stores. Exact types only: a subclass
# in some other module could store anywhere.
_SECURE_BACKENDS = {
    ("keyring.backends.SecretService", "Keyring"): "SecretService",
    ("keyring.backends.libsecret", "Keyring"): "libsecret",
    ("keyring.backends.kwallet", "DBusKeyring"): "KWallet",
    ("keyring.backends.kwallet", "DBusKeyringKWallet4"): "KWallet",
    ("keyring.backends.macOS", "Keyring"): "macOS Keychain",
    ("keyring.backends.Windows", "WinVaultKeyring"): "Windows Credential Manager",
}

T = TypeVar("T")


def _new_passphrase() -> str:
    """32 random bytes as unpadded base64url text: 43 ASCII characters, 256 bits."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode("ascii")


class SecretStore(ABC):
    """Holds short secrets by name; the key container's passphrase is the one that matters."""

    is_secure: bool = False
    backend_name: str = "unknown"

    @abstractmethod
    def get(self, name: str) -> str | None: ...

    @abstractmethod
    def set(self, name: str, value: str) -> None: ...

    @abstractmethod
    def delete(self, name: str) -> None: ...

    def container_passphrase(self, name: str, create: bool) -> bytes:
        """The stored passphrase for ``name``; with ``create``, a new random one if none exists.

        An existing passphrase is reused even on create, so a replaced key's ``.prev`` container
        stays readable. A new one is read back before use: a store that silently drops writes
        must not leave us with a key file nobody can open.
        """
        existing = self.get(name)
        if existing:
            return existing.encode("utf-8")
        if not create:
            raise SecretStoreError("passphrase_missing", name=name, backend=self.backend_name)
        value = _new_passphrase()
        self.set(name, value)
        if self.get(name) != value:
            raise SecretStoreError("keyring_refused", operation="verify", backend=self.backend_name)
        return value.encode("ascii")

    def forget_passphrase(self, name: str) -> None:
        """A passphrase for ``name`` proved wrong: drop any session copy (persistent stores keep theirs)."""


def _check_secret(name: str, value: str | None = None) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError("secret name must be a non-empty string")
    if value is not None:
        if not isinstance(value, str):
            raise TypeError("secret value must be str")
        if len(value) > MAX_SECRET_CHARS:
            raise SecretStoreError("secret_too_long", name=name, length=len(value), limit=MAX_SECRET_CHARS)


class MemorySecretStore(SecretStore):
    """A dict; for tests and previews. Counts as secure because nothing reaches the disk."""

    is_secure = True
    backend_name = "memory"

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        _check_secret(name)
        return self._values.get(name)

    def set(self, name: str, value: str) -> None:
        _check_secret(name, value)
        self._values[name] = value

    def delete(self, name: str) -> None:
        _check_secret(name)
        self._values.pop(name, None)


# ---------------------------------------------------------------------------------------------
# Backend policy


def _test_backends_allowed(allow: bool | None) -> bool:
    return os.environ.get(TEST_KEYRING_ENV) == "1" if allow is None else allow


def _is_test_backend(kr: Any) -> bool:
    """A backend defined in this project's ``tests`` package (e.g. tests.memkeyring.MemoryKeyring)."""
    return type(kr).__module__.split(".", 1)[0] == "tests"


def _priority(kr: Any) -> float:
    try:
        return float(kr.priority)
    except Exception:  # keyring signals "not viable here" by raising from priority
        return -1.0


def is_secure_backend(kr: Any, allow_test_backend: bool | None = None) -> bool:
    """True only for a real OS secret store with priority >= 1.

    Rejected: fail, null, plaintext or "encrypted file" backends (keyrings.alt and friends), and a
    chainer unless every backend it chains is secure. Test backends (classes from the project's
    ``tests`` package) pass only when ``allow_test_backend`` is true, or when it is None and
    $UDAP_ONBOARD_TEST_KEYRING is "1"; a shipped app has no ``tests`` package to load them from.
    """
    if kr is None:
        return False
    if isinstance(kr, ChainerBackend):
        members = list(_chained(kr))
        return bool(members) and all(is_secure_backend(m, allow_test_backend) for m in members)
    cls = type(kr)
    if (cls.__module__, cls.__name__) in _SECURE_BACKENDS:
        return _priority(kr) >= 1
    if _is_test_backend(kr) and _test_backends_allowed(allow_test_backend):
        return _priority(kr) >= 1
    return False


def _chained(kr: Any) -> list[Any]:
    try:
        return list(kr.backends)
    except Exception:
        return []


def _pick_secure(kr: Any, allow_test_backend: bool | None) -> Any:
    """The backend to use: ``kr`` itself, or the best secure member of a chainer.

    Going to the member directly means a plaintext backend chained after it (keyrings.alt installed
    next to a desktop keyring) is never written to, nor read from.
    """
    if isinstance(kr, ChainerBackend):
        for member in _chained(kr):  # already sorted by priority, highest first
            if is_secure_backend(member, allow_test_backend):
                return member
    return kr


def backend_display_name(kr: Any) -> str:
    cls = type(kr)
    known = _SECURE_BACKENDS.get((cls.__module__, cls.__name__))
    if known:
        return known
    try:
        return str(kr.name)
    except Exception:
        return f"{cls.__module__}.{cls.__name__}"


# ---------------------------------------------------------------------------------------------
# Keyring calls: timeout + error mapping


def _locked_message(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "dismissed" in text or "locked" in text or "unlock" in text


def _map_keyring_error(exc: BaseException, operation: str, backend: str) -> SecretStoreError:
    """One typed code per way a keyring fails; only the exception's type name is kept."""
    fields = {"operation": operation, "backend": backend, "error": type(exc).__name__}
    if isinstance(exc, SecretStoreError):
        return exc
    if isinstance(exc, keyring.errors.KeyringLocked) or "Locked" in type(exc).__name__:
        return SecretStoreError("keyring_locked", **fields)
    if isinstance(exc, keyring.errors.NoKeyringError):
        return SecretStoreError("keyring_unavailable", **fields)
    if isinstance(exc, keyring.errors.InitError):
        # SecretService: "Failed to create the collection: Prompt dismissed.." when nothing unlocks it
        code = "keyring_locked" if _locked_message(exc) else "keyring_unavailable"
        return SecretStoreError(code, **fields)
    if isinstance(exc, (keyring.errors.PasswordSetError, keyring.errors.PasswordDeleteError)):
        return SecretStoreError("keyring_refused", **fields)
    if isinstance(exc, NotImplementedError):
        return SecretStoreError("keyring_refused", **fields)
    if isinstance(exc, keyring.errors.KeyringError):
        return SecretStoreError("keyring_error", **fields)
    module = type(exc).__module__.split(".", 1)[0]
    if module in ("secretstorage", "jeepney", "dbus", "gi"):
        return SecretStoreError("keyring_unavailable", **fields)
    return SecretStoreError("keyring_failed", **fields)


def call_with_timeout(fn: Callable[[], T], timeout: float, operation: str, backend: str = "keyring") -> T:
    """Run ``fn`` in a daemon thread; give up after ``timeout`` seconds with ``keyring_timeout``.

    The thread may stay blocked (a prompt nobody answers); being a daemon it cannot keep the
    process alive. Any exception becomes a SecretStoreError.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, typed
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"udap-keyring-{operation}", daemon=True).start()
    if not done.wait(timeout):
        raise SecretStoreError("keyring_timeout", operation=operation, backend=backend, seconds=timeout)
    if "error" in box:
        raise _map_keyring_error(box["error"], operation, backend) from box["error"]
    return box["value"]


class KeyringSecretStore(SecretStore):
    """The OS keyring (service "udap-onboard", username = secret name), refusing insecure backends.

    ``backend`` defaults to ``keyring.get_keyring()``, resolved on first use (inside the timeout:
    finding the backend already talks to D-Bus on Linux).
    """

    def __init__(self, service: str = SERVICE, timeout: float = DEFAULT_TIMEOUT, *,
                 backend: Any = None, allow_test_backend: bool | None = None) -> None:
        self.service = service
        self.timeout = timeout
        self._allow_test = allow_test_backend
        self._backend = backend
        self._secure: bool | None = None
        self._lock = threading.Lock()

    def _resolve(self) -> tuple[Any, bool]:
        with self._lock:
            if self._secure is None:
                def find() -> tuple[Any, bool]:
                    kr = _pick_secure(self._backend if self._backend is not None else keyring.get_keyring(),
                                      self._allow_test)
                    return kr, is_secure_backend(kr, self._allow_test)
                self._backend, self._secure = call_with_timeout(find, self.timeout, "open")
            return self._backend, self._secure

    @property
    def backend(self) -> Any:
        return self._resolve()[0]

    @property
    def is_secure(self) -> bool:  # type: ignore[override]
        try:
            return self._resolve()[1]
        except SecretStoreError:
            return False

    @property
    def backend_name(self) -> str:  # type: ignore[override]
        try:
            return backend_display_name(self._resolve()[0])
        except SecretStoreError:
            return "unknown"

    def check(self) -> None:
        """Raise unless a secure backend is there (keyring_timeout, no_secure_keyring, ...)."""
        kr, secure = self._resolve()
        if not secure:
            raise SecretStoreError("no_secure_keyring", backend=backend_display_name(kr))

    def _call(self, operation: str, fn: Callable[[Any], T]) -> T:
        self.check()
        kr = self._backend
        return call_with_timeout(lambda: fn(kr), self.timeout, operation, backend_display_name(kr))

    def get(self, name: str) -> str | None:
        _check_secret(name)
        value = self._call("get", lambda kr: kr.get_password(self.service, name))
        if value is not None and not isinstance(value, str):
            raise SecretStoreError("keyring_failed", operation="get", backend=self.backend_name,
                                   error=type(value).__name__)
        return value

    def set(self, name: str, value: str) -> None:
        _check_secret(name, value)
        self._call("set", lambda kr: kr.set_password(self.service, name, value))

    def delete(self, name: str) -> None:
        """Remove ``name``; removing a secret that is not there is not an error."""
        _check_secret(name)
        if self.get(name) is None:
            return
        self._call("delete", lambda kr: kr.delete_password(self.service, name))


class UserPassphraseStore(SecretStore):
    """No secure keyring: the container is protected by a passphrase the user types each session.

    The passphrase is kept in memory only. It is stretched with PBKDF2-SHA256 (600,000 rounds,
    salt = secret name) before it is given to PKCS#12, because PKCS#12's integrity MAC uses only
    2,048 rounds and would otherwise be the cheap way to guess a human-chosen passphrase.
    Other secrets cannot be kept at all: get/set raise ``no_secure_keyring``.
    """

    is_secure = False
    backend_name = "passphrase"

    def __init__(self, ask: Callable[..., str]) -> None:
        """``ask(name, create)``: ``create`` is True when a new container is made, so the prompt can
        ask twice (a mistyped new passphrase would lock the key away for good). A one-argument
        ``ask(name)`` is accepted too."""
        self._ask = ask
        self._ask_takes_create = _takes_two(ask)
        self._cache: dict[str, bytes] = {}

    def get(self, name: str) -> str | None:
        raise SecretStoreError("no_secure_keyring", backend=self.backend_name)

    def set(self, name: str, value: str) -> None:
        raise SecretStoreError("no_secure_keyring", backend=self.backend_name)

    def delete(self, name: str) -> None:
        self._cache.pop(name, None)

    def container_passphrase(self, name: str, create: bool) -> bytes:
        _check_secret(name)
        if name in self._cache:
            return self._cache[name]
        try:
            typed = self._ask(name, create) if self._ask_takes_create else self._ask(name)
        except EOFError:
            typed = None
        if typed is None or not typed.rstrip("\r\n"):
            raise SecretStoreError("passphrase_missing", name=name, backend=self.backend_name)
        # NFC so the same passphrase typed on macOS and elsewhere gives the same bytes;
        # a trailing newline from --passphrase-stdin is not part of it.
        text = unicodedata.normalize("NFC", typed.rstrip("\r\n"))
        if create and len(text) < MIN_USER_PASSPHRASE:
            raise InputError("passphrase_too_short", minimum=MIN_USER_PASSPHRASE)
        stretched = PBKDF2HMAC(hashes.SHA256(), 32, f"udap-onboard/container/{name}".encode("utf-8"),
                               USER_PASSPHRASE_ROUNDS).derive(text.encode("utf-8"))
        passphrase = base64.urlsafe_b64encode(stretched).rstrip(b"=")
        self._cache[name] = passphrase
        return passphrase

    def forget_passphrase(self, name: str) -> None:
        self._cache.pop(name, None)


def _takes_two(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 2


def open_secret_store(ask_passphrase: Callable[[str], str] | None = None, *,
                      timeout: float = DEFAULT_TIMEOUT,
                      allow_test_backend: bool | None = None) -> SecretStore:
    """The secure keyring if there is one, else the user's passphrase; never a plaintext store.

    A keyring that exists but times out or is locked is reported (typed error), not silently
    replaced: keys saved under one store cannot be opened with the other.
    """
    store = KeyringSecretStore(timeout=timeout, allow_test_backend=allow_test_backend)
    try:
        store.check()
        return store
    except SecretStoreError as exc:
        if exc.code != "no_secure_keyring":
            raise
        if ask_passphrase is None:
            raise
    return UserPassphraseStore(ask_passphrase)
