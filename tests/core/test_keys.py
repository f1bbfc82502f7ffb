"""Key types, generation, and the encrypted PKCS#12 container (save/load through a SecretStore)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from app.core.errors import InputError, KeyContainerError, SecretStoreError
from app.core.keys import (
    DEFAULT_KEY_TYPE, KDF_ROUNDS, KeyType, decrypt_key, encrypt_key, generate_key, key_type_of,
    load_key, public_key_fingerprint, save_key,
)
from app.core.secrets import MemorySecretStore, UserPassphraseStore
from tests.pki import cached_key, make_community

PASS = b"correct horse battery staple"


@pytest.fixture(scope="module")
def generated():
    """One key per type for the whole module; RSA-4096 is generated exactly once."""
    return {kt: generate_key(kt) for kt in KeyType}


@pytest.fixture(scope="module")
def container():
    """An EC container made once (PBKDF2 at 600,000 rounds is deliberately slow)."""
    key = cached_key("p256", 7)
    return key, encrypt_key(key, PASS)


def _der_pkcs8(key) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# --- key types ---------------------------------------------------------------------------------

def test_default_is_rsa_3072():
    assert DEFAULT_KEY_TYPE is KeyType.RSA_3072


@pytest.mark.parametrize("kt", list(KeyType))
def test_generate_every_type(generated, kt):
    key = generated[kt]
    assert key_type_of(key) is kt
    assert key_type_of(key.public_key()) is kt
    if kt.value.startswith("rsa"):
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == int(kt.value[4:])
        assert key.private_numbers().public_numbers.e == 65537
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}[kt.value]


def test_generate_accepts_text_and_keys_differ():
    a, b = generate_key("P-256"), generate_key("ec-p256")
    assert key_type_of(a) is KeyType.EC_P256
    assert public_key_fingerprint(a) != public_key_fingerprint(b)


@pytest.mark.parametrize("text,expected", [
    ("rsa-2048", KeyType.RSA_2048), ("RSA 3072", KeyType.RSA_3072), ("rsa4096", KeyType.RSA_4096),
    ("ec-p256", KeyType.EC_P256), ("P-384", KeyType.EC_P384), ("  EC_P384 ", KeyType.EC_P384),
    (KeyType.EC_P256, KeyType.EC_P256),
])
def test_parse(text, expected):
    assert KeyType.parse(text) is expected


@pytest.mark.parametrize("text", ["", "rsa-1024", "ed25519", "p-521", "rsa"])
def test_parse_unknown(text):
    with pytest.raises(InputError) as ei:
        KeyType.parse(text)
    assert ei.value.code == "unknown_key_type"
    assert ei.value.fields["allowed"] == [kt.value for kt in KeyType]


def test_key_type_of_unsupported():
    with pytest.raises(InputError) as ei:
        key_type_of(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert (ei.value.code, ei.value.fields["size"]) == ("unsupported_key_type", 1024)
    with pytest.raises(InputError):
        key_type_of(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(InputError):
        key_type_of(ec.generate_private_key(ec.SECP521R1()))


def test_public_key_fingerprint():
    key = cached_key("p256", 0)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    fp = public_key_fingerprint(key)
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fp)
    assert fp.replace(":", "").lower() == hashlib.sha256(spki).hexdigest()
    assert public_key_fingerprint(key.public_key()) == fp
    assert public_key_fingerprint(cached_key("p256", 1)) != fp


# --- encrypt / decrypt -------------------------------------------------------------------------

@pytest.mark.parametrize("kt", list(KeyType))
def test_round_trip_every_type(generated, kt):
    key = generated[kt]
    blob = encrypt_key(key, PASS)
    assert _der_pkcs8(key) not in blob
    bundle = decrypt_key(blob, PASS)
    assert _der_pkcs8(bundle.key) == _der_pkcs8(key)
    assert bundle.cert is None and bundle.chain == ()
    assert "PRIVATE" not in repr(bundle)


def test_round_trip_with_certificate_and_chain():
    c = make_community()
    blob = encrypt_key(c.leaf.key, PASS, c.leaf.cert, [c.intermediate.cert, c.root.cert])
    bundle = decrypt_key(blob, PASS)
    assert bundle.cert == c.leaf.cert
    assert list(bundle.chain) == [c.intermediate.cert, c.root.cert]
    assert public_key_fingerprint(bundle.key) == public_key_fingerprint(c.leaf.key)


def test_certificate_must_fit_key():
    c = make_community()
    with pytest.raises(KeyContainerError) as ei:
        encrypt_key(cached_key("p256", 0), PASS, c.leaf.cert)
    assert ei.value.code == "certificate_key_mismatch"


def test_empty_passphrase_refused():
    with pytest.raises(KeyContainerError) as ei:
        encrypt_key(cached_key("p256", 0), b"")
    assert ei.value.code == "passphrase_empty"


def test_wrong_passphrase(container):
    _, blob = container
    for wrong in (b"wrong", PASS + b"x", b""):
        with pytest.raises(KeyContainerError) as ei:
            decrypt_key(blob, wrong)
        assert ei.value.code == "wrong_passphrase"
        assert PASS.decode() not in str(ei.value)


@pytest.mark.parametrize("damage", ["truncated", "head", "garbage", "empty", "pem"])
def test_damaged_container(container, damage):
    key, blob = container
    broken = {
        "truncated": blob[: len(blob) // 2],
        "head": b"\x00" + blob[1:],
        "garbage": os.urandom(len(blob)),
        "empty": b"",
        "pem": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    }[damage]
    with pytest.raises(KeyContainerError) as ei:
        decrypt_key(broken, PASS)
    assert ei.value.code == "damaged"


def test_container_without_key_is_refused():
    c = make_community()
    blob = pkcs12.serialize_key_and_certificates(b"x", None, c.leaf.cert, None,
                                                 serialization.BestAvailableEncryption(PASS))
    with pytest.raises(KeyContainerError) as ei:
        decrypt_key(blob, PASS)
    assert ei.value.code == "no_key"


def test_container_parameters_with_openssl(container, tmp_path):
    """The file itself says PBES2/PBKDF2, AES-256-CBC, >= 600,000 rounds, HMAC-SHA256, SHA-256 MAC."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl not installed")
    _, blob = container
    p12 = tmp_path / "k.p12"
    p12.write_bytes(blob)
    env = {**os.environ, "P12PASS": PASS.decode()}
    out = subprocess.run([openssl, "pkcs12", "-info", "-noout", "-in", str(p12), "-passin", "env:P12PASS"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    info = out.stdout + out.stderr
    bags = re.findall(r"Shrouded Keybag: (.*)", info)
    assert bags, info
    for bag in bags:
        assert "PBES2" in bag and "PBKDF2" in bag and "AES-256-CBC" in bag and "hmacWithSHA256" in bag
        assert int(re.search(r"Iteration (\d+)", bag).group(1)) >= 600_000
    assert re.search(r"MAC: sha256", info)
    assert KDF_ROUNDS >= 600_000
    # a wrong passphrase is refused by openssl too: the test would notice a container without MAC
    bad = subprocess.run([openssl, "pkcs12", "-info", "-noout", "-in", str(p12), "-passin", "pass:nope"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0


# --- save / load -------------------------------------------------------------------------------

@pytest.fixture
def store():
    return MemorySecretStore()


def _file_bytes_everywhere(root):
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                yield os.path.join(dirpath, f), fh.read()


def _secret_encodings(key) -> list[bytes]:
    """Byte strings that would betray the key if they were found in a file."""
    found = [_der_pkcs8(key),
             key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption())]
    if isinstance(key, rsa.RSAPrivateKey):
        d = key.private_numbers().d
    else:
        d = key.private_numbers().private_value
    found.append(d.to_bytes((d.bit_length() + 7) // 8, "big"))
    return found


def test_save_and_load(home, store, generated):
    key = generated[KeyType.RSA_2048]
    path = home / "profiles" / "clinic" / "key.p12"
    assert save_key(path, key, store, "key:clinic") == path
    bundle = load_key(path, store, "key:clinic")
    assert public_key_fingerprint(bundle.key) == public_key_fingerprint(key)
    passphrase = store.get("key:clinic")
    assert passphrase and len(passphrase) == 43  # 32 random bytes, base64url
    assert decrypt_key(path.read_bytes(), passphrase.encode()).key.private_numbers() == key.private_numbers()


def test_file_modes(home, store):
    path = home / "profiles" / "clinic" / "key.p12"
    old = os.umask(0o022)
    try:
        save_key(path, cached_key("p256", 0), store, "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_no_plaintext_key_anywhere_in_home(home, store, generated):
    keys = [generated[KeyType.RSA_3072], generated[KeyType.EC_P384]]
    c = make_community()
    save_key(home / "a" / "key.p12", keys[0], store, "a")
    save_key(home / "b" / "key.p12", keys[1], store, "b")
    save_key(home / "c" / "key.p12", c.leaf.key, store, "c", c.leaf.cert, [c.intermediate.cert])
    save_key(home / "b" / "key.p12", keys[1], store, "b", replace=True)
    files = dict(_file_bytes_everywhere(home))
    assert len(files) == 4  # three containers and one .prev; no temp files left behind
    for name, data in files.items():
        assert b"PRIVATE KEY" not in data, name
        for key in keys + [c.leaf.key]:
            for secret in _secret_encodings(key):
                assert secret not in data, name


def test_save_refuses_to_overwrite(home, store):
    path = home / "key.p12"
    save_key(path, cached_key("p256", 0), store, "k")
    before = path.read_bytes()
    with pytest.raises(KeyContainerError) as ei:
        save_key(path, cached_key("p256", 1), store, "k")
    assert ei.value.code == "exists" and ei.value.fields["path"] == str(path)
    assert path.read_bytes() == before
    assert not path.with_name("key.p12.prev").exists()


def test_replace_keeps_prev(home, store):
    path = home / "key.p12"
    old_key, new_key = cached_key("p256", 0), cached_key("p256", 1)
    save_key(path, old_key, store, "k")
    old_bytes = path.read_bytes()
    save_key(path, new_key, store, "k", replace=True)
    prev = path.with_name("key.p12.prev")
    assert prev.read_bytes() == old_bytes
    assert stat.S_IMODE(prev.stat().st_mode) == 0o600
    assert public_key_fingerprint(load_key(path, store, "k").key) == public_key_fingerprint(new_key)
    # the passphrase was reused, so the kept container still opens
    old = decrypt_key(prev.read_bytes(), store.get("k").encode())
    assert public_key_fingerprint(old.key) == public_key_fingerprint(old_key)


def test_load_wrong_passphrase_leaves_file_alone(home, store):
    path = home / "key.p12"
    save_key(path, cached_key("p256", 0), store, "k")
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    store.set("k", "not-the-passphrase")
    with pytest.raises(KeyContainerError) as ei:
        load_key(path, store, "k")
    assert ei.value.code == "wrong_passphrase" and ei.value.fields["path"] == str(path)
    assert "not-the-passphrase" not in str(ei.value)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in home.iterdir()) == ["key.p12"]


def test_load_missing_passphrase_leaves_file_alone(home, store):
    path = home / "key.p12"
    save_key(path, cached_key("p256", 0), store, "k")
    before = path.read_bytes()
    store.delete("k")
    with pytest.raises(SecretStoreError) as ei:
        load_key(path, store, "k")
    assert ei.value.code == "passphrase_missing" and ei.value.fields["name"] == "k"
    assert path.read_bytes() == before


def test_load_missing_file_does_not_ask(home):
    asked = []
    with pytest.raises(KeyContainerError) as ei:
        load_key(home / "nope.p12", UserPassphraseStore(lambda n: asked.append(n) or "x" * 20), "k")
    assert ei.value.code == "missing"
    assert asked == []


@pytest.mark.parametrize("content", [b"", b"not a container at all"])
def test_load_damaged_file(home, store, content):
    home.mkdir(parents=True)
    path = home / "key.p12"
    store.container_passphrase("k", create=True)
    path.with_name("key.p12.prev").write_bytes(b"an older container")
    path.write_bytes(content)
    with pytest.raises(KeyContainerError) as ei:
        load_key(path, store, "k")
    assert ei.value.code == "damaged"
    assert ei.value.fields["backup"] == str(path.with_name("key.p12.prev"))
    assert path.read_bytes() == content


def test_save_writes_nothing_when_the_store_fails(home):
    class Locked(MemorySecretStore):
        def get(self, name):
            raise SecretStoreError("keyring_locked", operation="get", backend="test")

    path = home / "key.p12"
    with pytest.raises(SecretStoreError):
        save_key(path, cached_key("p256", 0), Locked(), "k")
    assert not path.exists()


def test_user_passphrase_store_round_trip(home):
    path = home / "key.p12"
    typed = "a long enough passphrase"
    save_key(path, cached_key("p256", 0), UserPassphraseStore(lambda n: typed), "k")
    answers = iter(["wrong but long passphrase", typed])
    store = UserPassphraseStore(lambda n: next(answers))
    with pytest.raises(KeyContainerError) as ei:
        load_key(path, store, "k")
    assert ei.value.code == "wrong_passphrase"
    # the wrong one was forgotten: the next load asks again and succeeds
    bundle = load_key(path, store, "k")
    assert public_key_fingerprint(bundle.key) == public_key_fingerprint(cached_key("p256", 0))
    # the typed passphrase alone does not open the container (it is stretched first)
    with pytest.raises(KeyContainerError):
        decrypt_key(path.read_bytes(), typed.encode())
