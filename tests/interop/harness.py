"""Starts tests/interop/evernorth_profile.js (node) on 127.0.0.1 with a PKI made here at run time.

The PKI is shaped the way the Evernorth/Okta reference server needs it: the anchor carries its own
CRL distribution point (that server reads only the anchor's CRL) and every certificate below it
carries an AIA caIssuers URL (that server builds the client's chain only through AIA). The node
process serves those files itself under /pki/. Nothing is written outside the test's tmp folder,
and the metadata signing key is written only encrypted (PKCS#8, a random passphrase in the env).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from app.core.community import TrustCommunity
from app.sandbox.ca import pick_free_port
from tests.pki import CA, Issued, cached_key, make_ca, make_leaf

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "evernorth_profile.js"
MODULES = ("njwt", "node-forge", "pkijs", "asn1js", "pvutils", "jose")
COMMUNITY_NAME = "evernorth-interop"
COMMUNITY_URI = "urn:oid:2.16.840.1.113883.3.7204.1.99"
# The reference advertises openid/fhirUser/email/profile/udap; system scopes are added so a B2B
# client has something to ask for (its data-holder mode takes them from the FHIR server instead).
SCOPES = ["openid", "fhirUser", "email", "profile", "udap", "system/Patient.read", "system/Observation.read"]
START_TIMEOUT = 15.0


def missing_prerequisite() -> str | None:
    """Why the interop tests cannot run here, or None."""
    node = shutil.which("node")
    if not node:
        return "node is not installed (the interop tests need node >= 18 and `bash tests/interop/setup.sh`)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 18:  # global fetch
        return f"node {version} is too old: the interop tests need node >= 18"
    absent = [m for m in MODULES if not (HERE / "node_modules" / m / "package.json").exists()]
    if absent:
        return f"npm packages {', '.join(absent)} are not installed: run `bash tests/interop/setup.sh`"
    return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass
class Pki:
    root: CA
    intermediate: CA
    server: Issued
    origin: str
    prefix: str = "/pki"

    def files(self) -> dict[str, bytes]:
        now = _now()
        der, p = serialization.Encoding.DER, self.prefix
        return {f"{p}/root.cer": self.root.der, f"{p}/intermediate.cer": self.intermediate.der,
                f"{p}/root.crl": self.root.crl(now).public_bytes(der),
                f"{p}/intermediate.crl": self.intermediate.crl(now).public_bytes(der)}

    def issue_client(self, key, client_uri: str, issuer: CA | None = None) -> Issued:
        now = _now()
        return make_leaf(issuer or self.intermediate, [client_uri], key=key, cn="Interop Client",
                         not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))


def make_pki(origin: str, base_url: str, *, label: str = "Interop", prefix: str = "/pki") -> Pki:
    """root -> intermediate -> server leaf; a second call with another label/prefix is a foreign PKI."""
    now = _now()
    span = {"not_before": now - dt.timedelta(days=2), "not_after": now + dt.timedelta(days=365)}
    url = f"{origin}{prefix}"
    root = make_ca(f"{label} Root CA", crl_url=f"{url}/root.crl", aia_url=f"{url}/root.cer",
                   own_crl_url=f"{url}/root.crl", **span)
    inter = make_ca(f"{label} Intermediate CA", root, crl_url=f"{url}/intermediate.crl",
                    aia_url=f"{url}/intermediate.cer", **span)
    server = make_leaf(inter, [base_url], key=cached_key("rsa2048", 3), cn=f"{label} UDAP server",
                       not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=60))
    return Pki(root, inter, server, origin, prefix)


class EvernorthServer:
    """The node process; ``base_url`` is the FHIR base (discovery at base_url/.well-known/udap)."""

    def __init__(self, folder: Path, *, scopes: list[str] | None = None, client_algs: list[str] | None = None,
                 faithful_errors: bool = False, verbose: bool = False) -> None:
        self.folder = folder
        self.port = pick_free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.origin}/fhir"
        self.registration_endpoint = f"{self.origin}/oauth2/register"
        self.token_endpoint = f"{self.origin}/oauth2/token"
        self.pki = make_pki(self.origin, self.base_url)
        # A CA outside the community, its files served too: a refusal is then the chain check's own.
        self.foreign = make_pki(self.origin, self.base_url, label="Foreign", prefix="/foreign")
        self.scopes = scopes or SCOPES
        self.client_algs = client_algs or ["RS256"]  # the reference lists its one configured algorithm
        self.faithful_errors = faithful_errors  # answer a failed statement check with a bare 500, as it does
        self.verbose = verbose
        self.process: subprocess.Popen | None = None
        self.info: dict = {}
        self.stderr: list[str] = []

    def community(self) -> TrustCommunity:
        return TrustCommunity(name=COMMUNITY_NAME, uri=COMMUNITY_URI, anchors=[self.pki.root.pem.decode()],
                              revocation="hard")

    def _write(self, passphrase: bytes) -> Path:
        files = {}
        for path, blob in {**self.pki.files(), **self.foreign.files()}.items():
            target = self.folder / path.strip("/").replace("/", "-")
            target.write_bytes(blob)
            kind = "application/pkix-crl" if path.endswith(".crl") else "application/pkix-cert"
            files[path] = {"path": str(target), "type": kind}
        (self.folder / "anchor.pem").write_bytes(self.pki.root.pem)
        (self.folder / "server.der").write_bytes(self.pki.server.der)
        key = self.pki.server.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.BestAvailableEncryption(passphrase))
        (self.folder / "server-key.pem").write_bytes(key)
        config = {"port": self.port, "base_url": self.base_url, "registration_endpoint": self.registration_endpoint,
                  "token_endpoint": self.token_endpoint, "authorization_endpoint": f"{self.origin}/oauth2/authorize",
                  "anchor_pem": str(self.folder / "anchor.pem"), "server_cert_der": str(self.folder / "server.der"),
                  "server_key_pem": str(self.folder / "server-key.pem"), "signing_alg": "RS256",
                  "client_algs": self.client_algs, "faithful_errors": self.faithful_errors,
                  "scopes_supported": self.scopes, "files": files, "verbose": self.verbose}
        path = self.folder / "config.json"
        path.write_text(json.dumps(config))
        return path

    def revoke_in_anchor_crl(self, cert) -> None:
        """List a leaf on the ANCHOR's CRL, the only one the reference reads (files are read per request)."""
        self.pki.root.revoke(cert, _now() - dt.timedelta(hours=1))
        self.reset_crls()

    def reset_crls(self, clear: bool = False) -> None:
        if clear:
            self.pki.root.revoked.clear()
        for path, blob in self.pki.files().items():
            if path.endswith(".crl"):
                (self.folder / path.strip("/").replace("/", "-")).write_bytes(blob)

    def start(self) -> "EvernorthServer":
        passphrase = secrets.token_urlsafe(24)
        config = self._write(passphrase.encode())
        env = dict(os.environ, UDAP_INTEROP_KEY_PASS=passphrase)
        self.process = subprocess.Popen(["node", str(SCRIPT), str(config)], cwd=HERE, env=env, text=True,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._drain, daemon=True).start()
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError(f"the node server did not start: {''.join(self.stderr)[-2000:]}")
        self.info = json.loads(line[0])
        return self

    def _drain(self) -> None:
        for text in self.process.stderr:
            self.stderr.append(text)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> "EvernorthServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
