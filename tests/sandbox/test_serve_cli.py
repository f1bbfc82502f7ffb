"""The sandbox CLI: `sandbox serve --json` as a real process (one JSON line, serves, stops cleanly on
SIGTERM) and `sandbox gallery --out DIR --json`.

serve runs as a separate Python process (python -m app), as a trainer would start it in a terminal.
It gets no keyring (the fail backend), so the CA keys are protected by a passphrase from stdin.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from joserfc import jws

from app.cli import main
from tests.sandbox.thirdparty import crl_url, registry

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "practice passphrase for the serve test"


def start(home: Path) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("UDAP_ONBOARD_HOME", None)
    proc = subprocess.Popen([sys.executable, "-m", "app", "--home", str(home), "--passphrase-stdin",
                             "sandbox", "serve", "--json"], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(PASSPHRASE + "\n")
    proc.stdin.close()
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=60)
    except queue.Empty:
        proc.kill()
        pytest.fail("sandbox serve printed nothing within 60 s")
    if not line:
        proc.wait(10)
        pytest.fail(f"sandbox serve exited {proc.returncode}: {proc.stderr.read()}")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str, str]:
    proc.send_signal(sig)
    try:
        code = proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return code, proc.stdout.read(), proc.stderr.read()


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def metadata_signer(signed_metadata: str) -> x509.Certificate:
    header = jws.extract_compact(signed_metadata.encode(), registry=registry("RS256")).headers()
    return x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM cannot be delivered as a signal on Windows")
def test_serve_json_serves_until_sigterm_and_exits_0(tmp_path, capsys):
    home = tmp_path / "home"
    proc, info = start(home)
    try:
        assert {"base_url", "community_uri", "anchor", "tls_anchor"} <= set(info)
        assert info["base_url"].startswith("https://127.0.0.1:") and info["base_url"].endswith("/fhir")
        assert info["community_uri"] == "urn:udap-onboard:practice"
        anchor = x509.load_pem_x509_certificate(Path(info["anchor"]).read_bytes())
        assert anchor.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        tls = ssl.create_default_context(cafile=info["tls_anchor"])
        with httpx.Client(verify=tls, timeout=10) as http:
            meta = http.get(f"{info['base_url']}/.well-known/udap", params={"community": info["community_uri"]})
        assert meta.status_code == 200 and meta.json()["registration_endpoint"].startswith(info["base_url"][:-5])
        crl = crl_url(metadata_signer(meta.json()["signed_metadata"]))  # the plain-http side serves too
        assert httpx.get(crl, timeout=10).headers["content-type"] == "application/pkix-crl"

        # a second process on the same data folder finds the running community in the catalog
        assert main(["--home", str(home), "discover", "--community", "practice", "--server", info["base_url"],
                     "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["ok"] is True
    finally:
        code, rest, err = stop(proc, signal.SIGTERM)
    assert code == 0 and rest == "" and "Traceback" not in err, err
    with pytest.raises(OSError):  # both listeners are closed
        socket.create_connection(("127.0.0.1", port_of(info["base_url"])), timeout=2).close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port_of(crl)), timeout=2).close()


def test_gallery_json_lists_files_and_passwords_that_open_them(tmp_path, capsys):
    uri = "https://gallery.example.org/udap/client"
    code = main(["--home", str(tmp_path / "home"), "sandbox", "gallery", "--out", str(tmp_path / "g"),
                 "--client-uri", uri, "--json"])
    out = capsys.readouterr().out
    assert code == 0 and out.count("\n") == 1 and "<Certificate" not in out
    items = {i["name"]: i for i in json.loads(out)["items"]}
    assert set(items) == {"expired", "not-yet-valid", "revoked", "untrusted-ca", "no-san", "different-san", "dead-crl"}
    for item in items.values():
        _, cert, _ = pkcs12.load_key_and_certificates(Path(item["file"]).read_bytes(), item["password"].encode())
        sans = [] if item["name"] == "no-san" else cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.UniformResourceIdentifier)
        assert (sans == [uri]) == (item["name"] not in ("no-san", "different-san")), item["name"]
        assert item["expected_error"] in ("unapproved_software_statement", "invalid_software_statement")
    assert (tmp_path / "g" / "README.txt").exists()
