"""The CLI end to end on a fresh home folder, in-process (same memory keyring for every call).

Each call goes through app.cli.main exactly as the console script does; the practice community
runs in-process over loopback TLS whenever a step needs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from app.cli import main
from tests.pki import cached_key, make_community

URI = "https://apps.example-clinic.org/udap/b2b"


def run(home: Path, *args: str, stdin: str | None = None, capsys=None, monkeypatch=None):
    if stdin is not None:
        import io

        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"

    def call(*args, stdin=None):
        return run(home, *args, stdin=stdin, capsys=capsys, monkeypatch=monkeypatch)

    call.home = home
    return call


@pytest.fixture
def ready(cli):
    """A profile with a key (RSA-2048 to keep the suite fast)."""
    assert cli("profile", "create", "clinic", "--org-name", "Example Clinic", "--client-name", "Clinic B2B",
               "--client-uri", URI, "--contact", "it@example-clinic.org")[0] == 0
    assert cli("key", "generate", "--profile", "clinic", "--type", "rsa-2048")[0] == 0
    return cli


def no_private_key_on_disk(home: Path) -> None:
    """No PEM private key, no PKCS#8/PKCS#1 DER of a key, anywhere under the data folder."""
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"PRIVATE KEY-----" not in data, path
            assert b"\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01" not in data, path  # PKCS#8 RSA


def test_full_journey_on_fresh_home(ready, tmp_path):
    cli = ready
    code, out, _ = cli("csr", "create", "--profile", "clinic", "--country", "US", "--out", str(tmp_path / "r.csr"))
    assert code == 0 and "Wrote" in out
    if shutil.which("openssl"):
        res = subprocess.run(["openssl", "req", "-verify", "-noout", "-text", "-in", str(tmp_path / "r.csr")],
                             capture_output=True, text=True)
        assert res.returncode == 0 and "verify OK" in (res.stdout + res.stderr)
        assert f"URI:{URI}" in res.stdout
    code, out, err = cli("sandbox", "issue", "--profile", "clinic")
    assert code == 0, err
    assert "the certificate is ready" in out
    code, out, _ = cli("cert", "check", "--profile", "clinic", "--community", "practice", "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["problems"] == []
    assert [r["reason"] for r in result["trust"]["rows"]] == ["ok", "ok", "anchor"]
    code, out, _ = cli("profile", "list", "--json")
    row = json.loads(out)["profiles"][0]
    assert row["certificate_days_left"] >= 360 and row["next_step"] == "registration_details"
    code, out, _ = cli("community", "show", "practice", "--json")
    assert json.loads(out)["community"]["uri"] == "urn:udap-onboard:practice"
    no_private_key_on_disk(cli.home)
    for path in cli.home.rglob("*"):
        mode = path.stat().st_mode & 0o777
        if path.is_dir():
            assert mode == 0o700, path
        elif path.suffix not in (".pem",):  # the published practice anchors are public
            assert mode == 0o600, path


def test_register_modify_token_export_cancel(ready, tmp_path):
    from app.core.session import Session

    cli = ready
    assert cli("sandbox", "issue", "--profile", "clinic")[0] == 0
    session = Session(cli.home)
    server = session.practice.start()["base_url"]
    try:
        code, out, _ = cli("discover", "--community", "practice", "--server", server, "--json")
        doc = json.loads(out)
        assert code == 0 and doc["ok"] and all(c["status"] != "fail" for c in doc["checks"])
        code, out, _ = cli("statement", "--profile", "clinic", "--community", "practice", "--server", server, "--json")
        doc = json.loads(out)
        assert code == 0 and doc["claims"]["iss"] == URI and doc["header"]["alg"] == "RS256"
        code, out, _ = cli("register", "--profile", "clinic", "--community", "practice", "--server", server, "--json")
        first = json.loads(out)["results"][0]
        assert code == 0 and first["outcome"] == "registered" and first["client_id"]
        code, out, _ = cli("register", "--profile", "clinic", "--community", "practice", "--server", server, "--json")
        second = json.loads(out)["results"][0]
        assert second["outcome"] == "modified" and second["client_id"] == first["client_id"]
        code, out, _ = cli("token", "--profile", "clinic", "--server", server, "--fhir", "Patient", "--json")
        doc = json.loads(out)
        assert code == 0 and doc["fhir"]["status"] == 200 and doc["fhir"]["resource_type"] == "Bundle"
        assert "(" in doc["token"]["access_token"]  # redacted form only
        code, out, _ = cli("export", "--profile", "clinic", "--out", str(tmp_path / "evidence.zip"))
        assert code == 0 and (tmp_path / "evidence.zip").stat().st_size > 1000
        code, out, _ = cli("register", "--profile", "clinic", "--community", "practice", "--server", server,
                           "--cancel", "--json")
        assert code == 0 and json.loads(out)["results"][0]["outcome"] == "cancelled"
        code, _, err = cli("token", "--profile", "clinic", "--server", server)
        assert code == 1 and "Traceback" not in err
    finally:
        session.close()
    no_private_key_on_disk(cli.home)


def test_demo_json(cli):
    code, out, _ = cli("demo", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"]
    assert [s["name"] for s in doc["steps"]][-1] == "cancel registration" and len(doc["steps"]) == 12


def test_usage_errors_exit_2(cli):
    with pytest.raises(SystemExit) as e:
        main(["--home", str(cli.home), "nonsense"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["--home", str(cli.home), "key", "generate"])
    assert e.value.code == 2


def test_bad_inputs_one_line_and_nothing_lost(ready, tmp_path):
    cli = ready
    key_file = cli.home / "profiles" / "clinic" / "key.p12"
    before = key_file.read_bytes()
    profile_before = (cli.home / "profiles" / "clinic" / "profile.json").read_bytes()

    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    truncated = tmp_path / "trunc.pem"
    c = make_community()
    truncated.write_bytes(c.leaf.pem[:300])
    garbage = tmp_path / "garbage.bin"
    with open(garbage, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    other = tmp_path / "other.pem"
    other.write_bytes(c.leaf.pem + c.intermediate.pem)
    for f, expect in ((empty, "empty"), (truncated, "cut short"), (garbage, "too large"), (other, "belongs to your private key")):
        code, out, err = cli("cert", "import", "--profile", "clinic", str(f))
        assert code == 1, f
        assert "Traceback" not in err and err.count("\n") == 1, err
        assert expect in err.lower() or expect in err, (f, err)
    code, _, err = cli("key", "generate", "--profile", "clinic")
    assert code == 1 and "already" in err.lower()
    assert key_file.read_bytes() == before
    assert (cli.home / "profiles" / "clinic" / "profile.json").read_bytes() == profile_before


def test_wrong_pkcs12_password(ready, tmp_path):
    from cryptography.hazmat.primitives.serialization import pkcs12

    c = make_community(leaf_key=cached_key("rsa2048", 3))
    blob = pkcs12.serialize_key_and_certificates(b"x", c.leaf.key, c.leaf.cert, [c.intermediate.cert],
                                                 serialization.BestAvailableEncryption(b"right-password"))
    p12 = tmp_path / "community.p12"
    p12.write_bytes(blob)
    code, _, err = ready("cert", "import", "--profile", "clinic", str(p12), "--password-stdin", stdin="wrong\n")
    assert code == 1 and "password" in err.lower()


def test_damaged_profile_is_reported_and_kept(ready):
    path = ready.home / "profiles" / "clinic" / "profile.json"
    path.write_text("{ not json")
    code, _, err = ready("profile", "show", "clinic")
    assert code == 1 and "Traceback" not in err
    assert path.read_text() == "{ not json"  # nothing overwritten
    code, out, _ = ready("profile", "list", "--json")
    assert code == 0 and "error" in json.loads(out)["profiles"][0]


def test_json_error_object(cli):
    code, out, _ = cli("profile", "show", "missing", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["error"]["code"] == "not_found" and doc["next_step"]


def test_community_add_list_show(cli, tmp_path):
    c = make_community()
    anchor = tmp_path / "anchor.pem"
    anchor.write_bytes(c.root.pem)
    code, out, _ = cli("community", "add", "lab", "--uri", "udap://lab.example/", "--anchor", str(anchor),
                       "--revocation", "soft", "--json")
    assert code == 0
    fp = json.loads(out)["anchor_fingerprints"][0]
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fp)
    code, out, _ = cli("community", "list", "--json")
    assert [x["name"] for x in json.loads(out)["communities"]] == ["lab"]
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(c.leaf.pem)
    code, _, err = cli("community", "add", "bad", "--uri", "udap://x/", "--anchor", str(leaf))
    assert code == 1 and "CA" in err
