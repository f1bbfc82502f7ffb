"""PKCS#12 encryption and decryption in a short-lived child process, for the GUI.

cryptography 50 holds the GIL for the whole 600,000-round PKCS#12 KDF (~150 ms), which freezes
the wizard even from a worker thread; a child process runs it while the GUI only waits on a pipe.
Secrets travel only through the child's stdin/stdout (length-prefixed frames), never argv, env or
files. The child writes nothing to disk and prints nothing but its reply frames.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from app.core.errors import KeyContainerError

TIMEOUT = 60.0  # seconds; the KDF takes well under one
_LEN = struct.Struct(">I")
_MAX_FRAME = 4 << 20  # replies and requests are a few KiB; anything bigger is not ours
# What keys.encrypt_key/decrypt_key raise; any other code from a child is a broken child.
CHILD_CODES = ("passphrase_empty", "certificate_key_mismatch", "damaged", "wrong_passphrase", "no_key",
               "unsupported_key", "worker_unavailable")


def encode(frames: list[bytes]) -> bytes:
    return _LEN.pack(len(frames)) + b"".join(_LEN.pack(len(f)) + bytes(f) for f in frames)


def decode(data: bytes) -> list[bytes]:
    """The frames of a message; ValueError for anything truncated, oversized or with trailing bytes."""
    try:
        (count,), pos, frames = _LEN.unpack_from(data, 0), _LEN.size, []
        for _ in range(count):
            (size,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            if size > _MAX_FRAME or pos + size > len(data):
                raise ValueError("frame")
            frames.append(data[pos:pos + size])
            pos += size
    except struct.error:
        raise ValueError("short") from None
    if not frames or pos != len(data):
        raise ValueError("trailing")
    return frames


def command() -> list[str]:
    """The child's argv: the bundle's own executable when frozen, else this interpreter on this module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--key-worker"]
    return [sys.executable, "-B", "-s", "-m", "app.core.keyworker"]


def child_env() -> dict[str, str]:
    """Only what the child needs to find the code: no HOME, no keyring or display variables."""
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "LC_ALL": "C.UTF-8"}
    if getattr(sys, "frozen", False):  # a one-file child reuses the parent's unpacked bundle
        env.update({k: v for k, v in os.environ.items() if k.startswith("_PYI_") or k == "_MEIPASS2"})
    else:
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])  # the folder holding app/
    for name in ("SYSTEMROOT", "TMPDIR", "TEMP", "TMP"):  # Windows needs SYSTEMROOT for its RNG
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _run(frames: list[bytes], cwd: str | None = None) -> list[bytes]:
    """One request, one child. KeyContainerError("worker_unavailable") if no valid reply came back."""
    try:
        proc = subprocess.Popen(command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=child_env(), cwd=cwd or os.path.abspath(os.sep))
    except (OSError, ValueError) as exc:
        raise KeyContainerError("worker_unavailable", reason=type(exc).__name__) from None
    try:
        out, _ = proc.communicate(encode(frames), timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise KeyContainerError("worker_unavailable", reason="timeout") from None
    except OSError as exc:  # the child died before reading its request
        proc.kill()
        proc.wait()
        raise KeyContainerError("worker_unavailable", reason=type(exc).__name__) from None
    try:
        reply = decode(out)
        if reply[0] == b"ok":
            return reply[1:]
        code, fields = reply[1].decode("ascii"), dict(json.loads(reply[2]))
    except (ValueError, IndexError, TypeError):
        raise KeyContainerError("worker_unavailable", reason=f"exit_{proc.returncode}") from None
    for known in CHILD_CODES:
        if reply[0] == b"error" and code == known:
            raise KeyContainerError(known, **fields)
    raise KeyContainerError("worker_unavailable", reason="bad_reply")


def encrypt_in_child(key, passphrase: bytes, cert=None, chain=(), *, cwd: str | None = None) -> bytes:
    """``keys.encrypt_key`` at the default rounds, run in a child."""
    from cryptography.hazmat.primitives import serialization as ser

    der = key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    certs = [c.public_bytes(ser.Encoding.DER) for c in ([cert] if cert is not None else []) + list(chain)]
    return _run([b"encrypt", bytes(passphrase), der, b"1" if cert is not None else b"0", *certs], cwd)[0]


def decrypt_in_child(blob: bytes, passphrase: bytes, *, cwd: str | None = None):
    """``keys.decrypt_key`` run in a child: a KeyBundle, or the same KeyContainerError codes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization as ser

    from app.core.keys import KeyBundle

    reply = _run([b"decrypt", bytes(passphrase or b""), bytes(blob)], cwd)
    # The child got this key from a container whose MAC it checked: skip the slow RSA re-validation.
    key = ser.load_der_private_key(reply[0], None, unsafe_skip_rsa_key_validation=True)
    has_cert, certs = reply[1] == b"1", [x509.load_der_x509_certificate(c) for c in reply[2:]]
    return KeyBundle(key=key, cert=certs[0] if has_cert else None, chain=tuple(certs[1:] if has_cert else certs))


def _handle(frames: list[bytes]) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization as ser

    from app.core import keys

    kind, passphrase = frames[0], frames[1]
    if kind == b"encrypt":
        key = ser.load_der_private_key(frames[2], None, unsafe_skip_rsa_key_validation=True)
        certs = [x509.load_der_x509_certificate(c) for c in frames[4:]]
        cert, chain = (certs[0], certs[1:]) if frames[3] == b"1" else (None, certs)
        return [b"ok", keys.encrypt_key(key, passphrase, cert, chain)]
    if kind == b"decrypt":
        bundle = keys.decrypt_key(frames[2], passphrase)
        der = bundle.key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        certs = ([bundle.cert] if bundle.cert is not None else []) + list(bundle.chain)
        return [b"ok", der, b"1" if bundle.cert is not None else b"0",
                *(c.public_bytes(ser.Encoding.DER) for c in certs)]
    raise KeyContainerError("worker_unavailable", reason="unknown_request")


def serve() -> int:
    """The child: read one request from stdin, write one reply to stdout, exit."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt (or leak into) the reply
    try:
        reply = _handle(decode(sys.stdin.buffer.read()))
    except KeyContainerError as exc:
        safe = {k: v for k, v in exc.fields.items() if isinstance(v, (str, int))}
        reply = [b"error", exc.code.encode("ascii"), json.dumps(safe).encode("utf-8")]
    except Exception as exc:  # noqa: BLE001 - a type name only: messages could quote input
        reply = [b"error", b"worker_unavailable", json.dumps({"reason": type(exc).__name__}).encode()]
    out.write(encode(reply))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
