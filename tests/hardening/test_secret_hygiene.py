"""Secret hygiene: after a whole `demo` run, no secret is anywhere it could be read back.

The demo runs in-process through app.cli.main (``--passphrase-stdin demo --json --keep-home``)
so the test knows the passphrase it typed and can catch the access tokens the server issued.
Then every file under the kept home (zip members included), the CLI's own data folder (logs),
every log record, the in-memory audit trail and everything printed are searched for the private
key (PEM, DER, base64, base64url, hex, decimal, raw bytes of its private numbers), the typed
passphrase, the container passphrase derived from it, and the access tokens.
A self-test plants each kind of secret and demands the scanner finds it.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
import secrets as random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import unquote_to_bytes

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.cli import main
from app.core import demo, keys
from app.core import token as token_mod
from app.core.profile import ProfileStore
from app.core.secrets import UserPassphraseStore
from app.core.session import Session

WINDOW = 16  # bytes (or characters) of a secret that count as a leak on their own
_B64_RUN = re.compile(rb"[A-Za-z0-9+/_=-]{24,}")
_HEX_RUN = re.compile(rb"[0-9A-Fa-f]{32,}")


@dataclass(frozen=True)
class Needle:
    label: str
    data: bytes


def _windows(label: str, data: bytes, size: int = WINDOW, step: int | None = None) -> list[Needle]:
    """The whole value plus windows of it: a partial leak is a leak.

    Aligned windows (step = size) catch any leak of 2*size-1 or more; step 1 catches any ``size``.
    """
    out = [Needle(label, data)]
    if len(data) > size:
        out += [Needle(f"{label}[{i}:{i + size}]", data[i:i + size])
                for i in range(0, len(data) - size + 1, step or size)]
    return out


def _int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def key_needles(key) -> list[Needle]:
    """Encodings of the private key, and its private numbers as bytes, hex and decimal."""
    b64 = lambda d: base64.b64encode(d)  # noqa: E731
    b64url = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=")  # noqa: E731
    needles = []
    for name, fmt in (("pkcs8", serialization.PrivateFormat.PKCS8),
                      ("traditional", serialization.PrivateFormat.TraditionalOpenSSL)):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        der = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        needles += [Needle(f"key {name} PEM", pem), Needle(f"key {name} DER", der),
                    Needle(f"key {name} base64 DER", b64(der)), Needle(f"key {name} base64url DER", b64url(der))]
    needles.append(Needle("PEM private key armour", b"PRIVATE KEY-----"))
    if isinstance(key, rsa.RSAPrivateKey):
        pn = key.private_numbers()
        numbers = {"d": pn.d, "p": pn.p, "q": pn.q, "dmp1": pn.dmp1, "dmq1": pn.dmq1, "iqmp": pn.iqmp}
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = {"d": key.private_numbers().private_value}
    else:  # pragma: no cover - the app makes RSA and EC keys only
        raise TypeError(type(key))
    for name, n in numbers.items():
        raw = _int_bytes(n)
        needles += _windows(f"key {name} bytes", raw)
        needles += _windows(f"key {name} hex", raw.hex().encode("ascii"), 2 * WINDOW)
        needles += _windows(f"key {name} HEX", raw.hex().upper().encode("ascii"), 2 * WINDOW)
        needles += _windows(f"key {name} decimal", str(n).encode("ascii"), 40)
    return needles


def text_needles(label: str, value: str) -> list[Needle]:
    """Passphrases and tokens: any 16 consecutive characters (a redacted token shows only 6)."""
    return _windows(label, value.encode("utf-8"), step=1)


# ---------------------------------------------------------------- haystacks

def _decoded_runs(data: bytes) -> Iterator[bytes]:
    """base64/base64url and hex runs decoded at every alignment, so encoded fragments match raw needles."""
    for m in _B64_RUN.finditer(data):
        run = m.group().rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/").replace(b"=", b"")
        for shift in range(4):
            part = run[shift:]
            part = part[:len(part) - len(part) % 4] if len(part) % 4 == 1 else part
            try:
                yield base64.b64decode(part + b"=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                pass
    for m in _HEX_RUN.finditer(data):
        for shift in range(2):
            part = m.group()[shift:]
            yield bytes.fromhex(part[:len(part) // 2 * 2].decode("ascii"))


def variants(data: bytes) -> list[bytes]:
    """The bytes as stored, squeezed (no whitespace, JSON escapes, colons), percent-decoded, and
    every base64/hex run decoded (joined in one blob: 16-byte needles will not match across a seam)."""
    squeezed = re.sub(rb"\s+", b"", data.replace(b"\\n", b"").replace(b"\\r", b"").replace(b"\\/", b"/"))
    nocolon = squeezed.replace(b":", b"")
    unquoted = unquote_to_bytes(nocolon)
    decoded = b"\0|\0".join([*_decoded_runs(nocolon), *_decoded_runs(unquoted)])
    return [data, squeezed, nocolon, unquoted, decoded]


def _members(where: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    yield where, data
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                yield from _members(f"{where}!{info.filename}", zf.read(info))


def files_under(*roots: Path) -> Iterator[tuple[str, bytes]]:
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                yield from _members(str(path), path.read_bytes())


def scan(haystacks: Iterable[tuple[str, bytes]], needles: list[Needle]) -> list[tuple[str, str]]:
    """(needle label, where) for every secret found."""
    found = []
    for where, data in haystacks:
        for variant in variants(data):
            for needle in needles:
                if needle.data in variant:
                    found.append((needle.label, where))
    return sorted(set(found))


# ---------------------------------------------------------------- the run

PASSPHRASE = f"hygiene test {random.token_hex(10)}"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One in-process `--passphrase-stdin demo --json --keep-home DIR`, with everything it left behind."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("hygiene")
    home, cli_home = base / "demo-home", base / "cli-home"
    sessions: list[Session] = []
    tokens: list[str] = []

    class RecordingSession(Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            sessions.append(self)

    real_request_token = token_mod.request_token

    def catching_request_token(*args, **kwargs):
        result = real_request_token(*args, **kwargs)
        tokens.append(result.access_token)
        return result

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler, root = Keep(level=logging.DEBUG), logging.getLogger()
    old_level = root.level
    mp.setattr(demo, "Session", RecordingSession)
    mp.setattr(token_mod, "request_token", catching_request_token)
    mp.setattr("sys.stdin", io.StringIO(PASSPHRASE + "\n"))
    mp.setenv("UDAP_ONBOARD_HOME", str(cli_home))
    out, err = io.StringIO(), io.StringIO()
    mp.setattr("sys.stdout", out)
    mp.setattr("sys.stderr", err)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # the chattiest setting a user could pick
    try:
        code = main(["--passphrase-stdin", "demo", "--json", "--keep-home", str(home)])
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        mp.undo()
    logs = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in records)
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "home": home, "cli_home": cli_home,
            "session": sessions[0], "tokens": tokens, "logs": logs, "log_count": len(records)}


@pytest.fixture(scope="module")
def secrets_of(demo_run):
    """The needles: the key decrypted from disk with the known passphrase, both passphrases, the tokens."""
    profile = ProfileStore(demo_run["home"]).load("demo")
    name = profile.extra["key_secret"]
    container_pass = UserPassphraseStore(lambda _: PASSPHRASE).container_passphrase(name, create=False)
    key = keys.load_key(demo_run["home"] / "profiles" / "demo" / "key.p12",
                        UserPassphraseStore(lambda _: PASSPHRASE), name).key
    needles = key_needles(key) + text_needles("typed passphrase", PASSPHRASE)
    needles += text_needles("container passphrase", container_pass.decode("ascii"))
    for i, tok in enumerate(demo_run["tokens"]):
        needles += text_needles(f"access token {i}", tok)
    return {"key": key, "needles": needles, "container_pass": container_pass}


def haystacks(run) -> list[tuple[str, bytes]]:
    session = run["session"]
    memory = {"audit trail": session.audit.to_jsonable(), "token results": session.token_results,
              "registration results": [r.to_dict() for r in session.registration_results],
              "discovery reports": [r.to_dict() for r in session.discovery_reports]}
    return [("stdout", run["stdout"].encode()), ("stderr", run["stderr"].encode()), ("log records", run["logs"].encode()),
            *[(k, json.dumps(v, default=str).encode()) for k, v in memory.items()],
            *files_under(run["home"], run["cli_home"])]


def test_demo_leaves_no_secret_anywhere(demo_run, secrets_of):
    run = demo_run
    doc = json.loads(run["stdout"])
    assert run["code"] == 0 and doc["ok"], doc
    assert [s["name"] for s in doc["steps"]][-1] == "export evidence"
    # The run really did what the scan assumes: the key was used, tokens were issued and sent.
    assert len(run["tokens"]) == 2 and all(len(t) >= 32 for t in run["tokens"])
    assert run["session"].key_cache and any(
        keys.public_key_fingerprint(k) == keys.public_key_fingerprint(secrets_of["key"])
        for _, k in run["session"].key_cache.values())
    steps = {e["step"] for e in run["session"].audit.to_jsonable()}
    assert {"token", "fhir", "registration", "discovery"} <= steps, steps
    stacks = haystacks(run)
    names = [w for w, _ in stacks]
    assert any(w.endswith("demo-evidence.zip!evidence.json") for w in names), names
    assert any(w.endswith("demo-evidence.zip!report.html") for w in names), names
    assert any(w.endswith("key.p12") for w in names) and run["log_count"] > 0
    found = scan(stacks, secrets_of["needles"])
    print(f"\nscanned {len(stacks)} places ({sum(len(b) for _, b in stacks)} bytes) for "
          f"{len(secrets_of['needles'])} needles: {len(found)} found")
    assert found == [], found


@pytest.mark.parametrize("plant", ["pem", "der_in_zip", "base64url_fragment", "colon_hex", "decimal_d",
                                   "token_in_log", "passphrase_printed", "container_pass_in_json",
                                   "percent_encoded_token", "base64_fragment_misaligned"])
def test_scanner_finds_planted_secrets(demo_run, secrets_of, plant, tmp_path):
    """The scan must be able to fail: each way a secret could leak, planted once, is found."""
    key, tok = secrets_of["key"], demo_run["tokens"][0]
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    d = key.private_numbers().d if isinstance(key, rsa.RSAPrivateKey) else key.private_numbers().private_value
    b64url = base64.urlsafe_b64encode(pkcs8).decode()
    b64 = base64.b64encode(pkcs8).decode()
    planted = {
        "pem": ("notes.txt", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())),
        "der_in_zip": ("bundle.zip", _zip({"inner/key.der": key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())})),
        "base64url_fragment": ("x.json", json.dumps({"excerpt": b64url[len(b64url) // 2:len(b64url) // 2 + 120]}).encode()),
        "colon_hex": ("dump.txt", (":".join(f"{b:02x}" for b in _int_bytes(d)[40:80])).encode()),
        "decimal_d": ("d.txt", str(d)[20:80].encode()),
        "token_in_log": ("logs/app.log", f"GET /fhir Authorization: Bearer {tok[3:25]}\n".encode()),
        "passphrase_printed": ("stdout.txt", f"you typed {PASSPHRASE}".encode()),
        "container_pass_in_json": ("c.json", json.dumps({"p": secrets_of["container_pass"].decode()}).encode()),
        "percent_encoded_token": ("url.txt", ("https://x/?t=" + "".join(f"%{ord(c):02X}" for c in tok)).encode()),
        "base64_fragment_misaligned": ("m.txt", ("\n".join(b64[i:i + 64] for i in range(401, 800, 64))).encode()),
    }
    name, data = planted[plant]
    found = scan(_members(f"planted/{name}", data), secrets_of["needles"])
    assert found, f"planted {plant} not found"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()
