"""The PKCS#12 child process (app/core/keyworker.py): same bytes, same errors, falls back, writes nothing."""

from __future__ import annotations

import os
import sys

import pytest

from app.core import keys, keyworker
from app.core.errors import KeyContainerError
from tests.core import test_keys as tk  # as a module: its tests must not be collected twice here
from tests.pki import cached_key, make_community

PASS = tk.PASS


@pytest.fixture
def offloaded(monkeypatch):
    monkeypatch.setattr(keys, "_offload", True)


@pytest.fixture(scope="module")
def community():
    return make_community(leaf_key=cached_key("p256", 3))


def _same_key(a, b) -> bool:
    return keys.public_key_fingerprint(a) == keys.public_key_fingerprint(b)


def test_encrypt_in_child_is_our_pkcs12(tmp_path, community):
    """Child-made bytes open in process, with cert and chain in order, and pass test_keys' openssl check."""
    leaf = community.leaf
    chain = [community.intermediate.cert, community.root.cert]
    blob = keyworker.encrypt_in_child(leaf.key, PASS, leaf.cert, iter(chain))
    bundle = keys.decrypt_key(blob, PASS)  # in process: _offload is off in tests
    assert _same_key(bundle.key, leaf.key)
    assert bundle.cert == leaf.cert and list(bundle.chain) == chain
    tk.test_container_parameters_with_openssl((leaf.key, blob), tmp_path)


def test_decrypt_in_child_reads_in_process_bytes():
    key = cached_key("rsa2048", 4)
    blob = keys.encrypt_key(key, PASS)
    bundle = keyworker.decrypt_in_child(blob, PASS)
    assert _same_key(bundle.key, key) and bundle.cert is None and bundle.chain == ()


def test_offloaded_keys_round_trip_with_certificate(offloaded, community):
    """Through keys.encrypt_key/decrypt_key with offload on: both halves run in a child."""
    leaf, chain = community.leaf, (community.intermediate.cert,)
    blob = keys.encrypt_key(leaf.key, PASS, leaf.cert, chain)
    bundle = keys.decrypt_key(blob, PASS)
    assert keys._offload, "a working child must not switch offloading off"
    assert _same_key(bundle.key, leaf.key) and bundle.cert == leaf.cert and bundle.chain == chain


def test_errors_keep_their_codes(offloaded, community):
    blob = keyworker.encrypt_in_child(cached_key("p256", 5), PASS)
    for wrong in (b"wrong", b""):
        with pytest.raises(KeyContainerError) as ei:
            keys.decrypt_key(blob, wrong)
        assert ei.value.code == "wrong_passphrase" and PASS.decode() not in str(ei.value)
    with pytest.raises(KeyContainerError) as ei:
        keys.decrypt_key(blob[: len(blob) // 2], PASS)
    assert ei.value.code == "damaged" and ei.value.fields == {"reason": "not_pkcs12"}
    with pytest.raises(KeyContainerError) as ei:  # checked in the child, mapped back with its field
        keyworker.encrypt_in_child(cached_key("p256", 5), PASS, community.leaf.cert)
    assert ei.value.code == "certificate_key_mismatch" and "key_fingerprint" in ei.value.fields
    assert keys._offload, "an answer from the child is not a reason to stop offloading"


_FORGED = keyworker.encode([b"error", b"no_such_code", b"{}"])  # a code keys never raises


@pytest.mark.parametrize("argv", [["/nonexistent/python3"], [sys.executable, "-c", "print('hello')"],
                                  [sys.executable, "-c", "import sys; sys.exit(3)"],
                                  [sys.executable, "-c", f"import sys; sys.stdout.buffer.write({_FORGED!r})"]])
def test_child_that_cannot_work_falls_back(offloaded, monkeypatch, argv):
    monkeypatch.setattr(keyworker, "command", lambda: argv)
    key = cached_key("p256", 6)
    with pytest.raises(KeyContainerError) as ei:
        keyworker.decrypt_in_child(b"x", PASS)
    assert ei.value.code == "worker_unavailable" and ei.value.fields["reason"]
    blob = keys.encrypt_key(key, PASS, chain=iter([]))  # falls back in process
    assert keys._offload is False  # and stops trying for the rest of the run
    assert _same_key(keys.decrypt_key(blob, PASS).key, key)


def test_child_writes_no_file(tmp_path, monkeypatch, community):
    """With HOME, TMPDIR and the working folder pointing at empty folders, they stay empty."""
    folders = {n: tmp_path / n for n in ("home", "tmp", "cwd")}
    for f in folders.values():
        f.mkdir()
    monkeypatch.setenv("HOME", str(folders["home"]))
    monkeypatch.setenv("TMPDIR", str(folders["tmp"]))
    leaf = community.leaf
    blob = keyworker.encrypt_in_child(leaf.key, PASS, leaf.cert, cwd=str(folders["cwd"]))
    keyworker.decrypt_in_child(blob, PASS, cwd=str(folders["cwd"]))
    with pytest.raises(KeyContainerError):
        keyworker.decrypt_in_child(blob, b"wrong", cwd=str(folders["cwd"]))
    assert {n: sorted(os.listdir(f)) for n, f in folders.items()} == {"home": [], "tmp": [], "cwd": []}


def test_no_secret_outside_the_pipe(monkeypatch):
    """argv and env of the child hold no passphrase; the frozen build runs its own executable."""
    monkeypatch.setenv("UDAP_SECRET_PROBE", PASS.decode())
    env = keyworker.child_env()
    assert "HOME" not in env and "UDAP_SECRET_PROBE" not in env
    assert PASS.decode() not in " ".join(keyworker.command()) + repr(env)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert keyworker.command() == [sys.executable, "--key-worker"]


def test_key_worker_flag_of_the_app(monkeypatch):
    """`udap-onboard --key-worker` (what the bundle runs) serves one request, from app/__main__.py."""
    monkeypatch.setattr(keyworker, "command", lambda: [sys.executable, "-B", "-s", "-m", "app", "--key-worker"])
    key = cached_key("p256", 8)
    assert _same_key(keyworker.decrypt_in_child(keys.encrypt_key(key, PASS), PASS).key, key)


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\x00\x00\x00\x00", b"\x00\x00\x00\x01\x00\x00\x00\x05ab",
                                  b"\x00\x00\x00\x01\x00\x00\x00\x00extra", b"\x00\x00\x00\x01\xff\xff\xff\xff"])
def test_broken_frames_are_refused(data):
    with pytest.raises(ValueError):
        keyworker.decode(data)
    assert keyworker.decode(keyworker.encode([b"a", b"", b"bc"])) == [b"a", b"", b"bc"]
