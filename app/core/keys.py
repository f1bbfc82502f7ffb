"""The client's private key: the types we offer, generation, and its encrypted container on disk.

The key only ever reaches the disk inside PKCS#12 with PBES2 (PBKDF2-SHA256, 600,000 rounds,
AES-256-CBC) and an HMAC-SHA256 integrity check; the container's passphrase comes from a
``SecretStore`` (keyring or the user), never from the file system.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES

from app.core.errors import InputError, KeyContainerError, StorageError
from app.core.storage import PREV_SUFFIX, atomic_write, ensure_private_dir, read_bounded

if TYPE_CHECKING:  # annotations only: the key worker child must not pay for importing keyring
    from app.core.secrets import SecretStore

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]

KDF_ROUNDS = 600_000
FRIENDLY_NAME = b"udap-onboard client key"
# A key container with a long chain is a few KiB; anything near this is not ours.
MAX_CONTAINER_BYTES = 1 << 20
_offload = False  # see offload()


def offload(enabled: bool = True) -> None:
    """Run the PKCS#12 KDF in a child process (app/core/keyworker.py): the GUI turns this on.

    cryptography holds the GIL for the whole 600,000 rounds (~150 ms), freezing the GUI thread
    even when a worker thread does the work. The CLI and tests keep it in-process.
    """
    global _offload
    _offload = bool(enabled)


def _in_child(run):
    """``run()``'s result, or None when the child could not do it (then offloading stops for this run)."""
    global _offload
    try:
        return run()
    except KeyContainerError as exc:
        if exc.code != "worker_unavailable":
            raise
        _offload = False
        return None


class KeyType(str, Enum):
    """The key types a UDAP client may hold (RS256/ES256/ES384 families)."""

    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"

    @classmethod
    def parse(cls, text: str) -> "KeyType":
        """Accept "rsa-3072", "RSA 3072", "rsa3072", "ec-p256", "p-256", "P256"... (case-insensitive)."""
        if isinstance(text, KeyType):
            return text
        wanted = _squash(str(text))
        for kt in cls:
            squashed = _squash(kt.value)
            if wanted in (squashed, squashed.removeprefix("ec")):
                return kt
        raise InputError("unknown_key_type", value=str(text), allowed=[kt.value for kt in cls])

    @property
    def label(self) -> str:
        return {"rsa-2048": "RSA 2048", "rsa-3072": "RSA 3072", "rsa-4096": "RSA 4096",
                "ec-p256": "EC P-256", "ec-p384": "EC P-384"}[self.value]


DEFAULT_KEY_TYPE = KeyType.RSA_3072

_CURVES = {KeyType.EC_P256: ec.SECP256R1, KeyType.EC_P384: ec.SECP384R1}
_RSA_BITS = {KeyType.RSA_2048: 2048, KeyType.RSA_3072: 3072, KeyType.RSA_4096: 4096}
# One lookup per key (an Enum member hashes in Python) and no Python frame in between: the wrapper
# adds ~1.5 us to an EC key otherwise (tests/bench/bench_keys.py). Curve objects are stateless.
_GENERATORS = {**{kt: functools.partial(rsa.generate_private_key, 65537, bits) for kt, bits in _RSA_BITS.items()},
               **{kt: functools.partial(ec.generate_private_key, curve()) for kt, curve in _CURVES.items()}}


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def key_type_of(key) -> KeyType:
    """The KeyType of a private or public key; other keys (RSA-1024, Ed25519...) are refused."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        for kt, bits in _RSA_BITS.items():
            if key.key_size == bits:
                return kt
        raise InputError("unsupported_key_type", algorithm="RSA", size=key.key_size)
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        for kt, curve in _CURVES.items():
            if key.curve.name == curve.name:
                return kt
        raise InputError("unsupported_key_type", algorithm="EC", curve=key.curve.name)
    raise InputError("unsupported_key_type", algorithm=type(key).__name__)


def generate_key(key_type: KeyType | str = DEFAULT_KEY_TYPE) -> PrivateKey:
    """A fresh key; slow for RSA-4096 (seconds), so the GUI runs it off the GUI thread."""
    kt = key_type if isinstance(key_type, KeyType) else KeyType.parse(key_type)
    return _GENERATORS[kt]()


def public_key_fingerprint(key) -> str:
    """SHA-256 of the SubjectPublicKeyInfo DER, uppercase hex with colons (like certificate fingerprints)."""
    public = key.public_key() if hasattr(key, "public_key") else key
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(spki).digest())


@dataclass(frozen=True)
class KeyBundle:
    """What a key container holds: the key, and the certificate + chain if they were stored with it."""

    key: PrivateKey = field(repr=False)
    cert: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()


def _spki(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def encrypt_key(key: PrivateKey, passphrase: bytes, cert: x509.Certificate | None = None,
                chain: Iterable[x509.Certificate] = (), *, rounds: int | None = None) -> bytes:
    """The PKCS#12 container bytes (PBES2 SHA-256 + AES-256-CBC, 600,000 rounds, HMAC-SHA256).

    Not ``BestAvailableEncryption``: for PKCS#8 it uses only 2,048 PBKDF2 rounds. ``rounds`` is for
    the practice CA only (a random passphrase; cryptography holds the GIL for the whole KDF).
    """
    if not isinstance(passphrase, (bytes, bytearray)) or not passphrase:
        raise KeyContainerError("passphrase_empty")
    if cert is not None and cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != _spki(key):
        raise KeyContainerError("certificate_key_mismatch",
                                key_fingerprint=public_key_fingerprint(key))
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(rounds or KDF_ROUNDS)
                  .key_cert_algorithm(PBES.PBESv2SHA256AndAES256CBC)
                  .hmac_hash(hashes.SHA256())
                  .build(bytes(passphrase)))
    if _offload and rounds is None:
        from app.core import keyworker

        chain = list(chain)  # once: a generator would be empty for the in-process fallback
        blob = _in_child(lambda: keyworker.encrypt_in_child(key, bytes(passphrase), cert, chain))
        if blob is not None:
            return blob
    return pkcs12.serialize_key_and_certificates(FRIENDLY_NAME, key, cert, list(chain) or None, encryption)


def decrypt_key(blob: bytes, passphrase: bytes) -> KeyBundle:
    """Open a container; ``wrong_passphrase`` or ``damaged``, never a bare ValueError.

    A byte changed inside the encrypted part fails the same integrity check as a wrong passphrase,
    so it is reported as ``wrong_passphrase``; only a file that is not PKCS#12 at all is ``damaged``.
    """
    if not blob:
        raise KeyContainerError("damaged", reason="empty")
    if _offload:
        from app.core import keyworker

        bundle = _in_child(lambda: keyworker.decrypt_in_child(blob, passphrase))
        if bundle is not None:
            return bundle
    try:
        loaded = pkcs12.load_pkcs12(bytes(blob), bytes(passphrase) if passphrase else None)
    except ValueError as exc:
        # cryptography says "Could not deserialize PKCS12 data" for a broken structure and
        # "Invalid password or PKCS12 data" when the MAC or decryption fails.
        if "deserialize" in str(exc).lower():
            raise KeyContainerError("damaged", reason="not_pkcs12") from None
        raise KeyContainerError("wrong_passphrase") from None
    except Exception as exc:  # unsupported algorithms inside, and the like
        raise KeyContainerError("damaged", reason=type(exc).__name__) from None
    if loaded.key is None:
        raise KeyContainerError("no_key")
    if not isinstance(loaded.key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyContainerError("unsupported_key", algorithm=type(loaded.key).__name__)
    cert = loaded.cert.certificate if loaded.cert is not None else None
    chain = tuple(c.certificate for c in loaded.additional_certs)
    return KeyBundle(key=loaded.key, cert=cert, chain=chain)


def save_key(path: str | Path, key: PrivateKey, secrets: SecretStore, secret_name: str,
             cert: x509.Certificate | None = None, chain: Iterable[x509.Certificate] = (), *,
             replace: bool = False, rounds: int | None = None) -> Path:
    """Encrypt ``key`` under the store's passphrase for ``secret_name`` and write it atomically (0600).

    An existing file is an error unless ``replace``; then the old container is kept as
    ``<name>.prev``. Its passphrase is reused, so the ``.prev`` stays openable.
    """
    path = Path(path)
    exists = path.exists() or path.is_symlink()
    if exists and not replace:
        raise KeyContainerError("exists", path=str(path))
    ensure_private_dir(path.parent)
    passphrase = secrets.container_passphrase(secret_name, create=True)
    blob = encrypt_key(key, passphrase, cert, chain, rounds=rounds)
    return atomic_write(path, blob, mode=0o600, keep_previous=exists)


def load_key(path: str | Path, secrets: SecretStore, secret_name: str) -> KeyBundle:
    """Read and decrypt a container; the file is only read, never touched, whatever fails."""
    path = Path(path)
    prev = path.with_name(path.name + PREV_SUFFIX)
    backup = {"backup": str(prev)} if prev.exists() else {}
    try:
        blob = read_bounded(path, MAX_CONTAINER_BYTES)
    except StorageError as exc:
        if exc.code == "file_not_found":
            raise KeyContainerError("missing", path=str(path), **backup) from None
        if exc.code in ("file_empty", "file_too_large"):
            raise KeyContainerError("damaged", path=str(path), reason=exc.code, **backup) from None
        raise
    # Read first: nobody is asked for a passphrase to open a file that is not there.
    passphrase = secrets.container_passphrase(secret_name, create=False)
    try:
        return decrypt_key(blob, passphrase)
    except KeyContainerError as exc:
        if exc.code == "wrong_passphrase":
            secrets.forget_passphrase(secret_name)
        raise KeyContainerError(exc.code, path=str(path), **exc.fields, **backup) from None
