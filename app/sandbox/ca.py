"""The practice community's certificate authorities, kept in one data folder across restarts.

Three EC P-256 CAs (a key pair costs ~0.05 ms against 60-300 ms for RSA-2048): a root, the
intermediate that issues client and server UDAP certificates, and a separate TLS CA, name-
constrained to localhost / 127.0.0.0/8 / ::1, for the practice server's HTTPS certificate.
Keys live in PKCS#12 containers exactly like the user's own (keys.save_key: AES-256, PBKDF2-SHA256,
600,000 rounds) under one passphrase per folder from the SecretStore. Each is decrypted on first use
only: an open costs ~0.2 s of KDF during which cryptography holds the GIL.
AIA and CRL URLs point at a plain-http port chosen once per folder and persisted, so certificates
issued earlier stay checkable after a restart; if that port is taken later the server refuses to
start (``http_port_in_use``) rather than silently issuing URLs that old certificates do not carry.
"""

from __future__ import annotations

import json
import secrets as random
import socket
import threading
from datetime import datetime, timedelta, timezone
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from app.core.errors import NetworkError, SandboxError, StorageError
from app.core.keys import load_key, save_key
from app.core.storage import atomic_write, ensure_private_dir, read_bounded

ORGANIZATION = "udap-onboard practice community"
CA_NAMES = ("root", "intermediate", "tls-ca")
CA_KDF_ROUNDS = None  # keys.KDF_ROUNDS: "private keys encrypted like the user's own" (issue 4)
CRL_LIFETIME = timedelta(days=7)
CRL_RESIGN_MARGIN = timedelta(days=1)
LEAF_VALIDITY = timedelta(days=365)
# Outside the ephemeral ranges of Linux (32768-60999), Windows and macOS (49152-65535), so an
# outgoing connection is unlikely to be sitting on the persisted port at the next start.
PORT_RANGE = (20000, 32000)
CERT_TYPE = "application/pkix-cert"
CRL_TYPE = "application/pkix-crl"
_STATE = "state.json"
_STATE_LIMIT = 1 << 20
_CA_BACKDATE = timedelta(days=1)
_LEAF_BACKDATE = timedelta(minutes=5)


def _utcnow(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)])


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def build_certificate(*, subject: x509.Name, public_key, issuer: x509.Certificate | None, issuer_key,
                      not_before: datetime, not_after: datetime, ca: bool = False,
                      sans: list[x509.GeneralName] | None = None, crl_url: str | None = None,
                      aia_url: str | None = None, extra: tuple = ()) -> x509.Certificate:
    """One certificate of the practice PKI (``issuer`` None = self-signed), signed with SHA-256."""
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer.subject if issuer else subject).public_key(public_key)
         .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer else None), critical=True)
         .add_extension(_key_usage(ca=ca), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                        critical=False))
    if sans:  # RFC 5280 §4.2.1.6: critical when the subject is empty
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=len(subject) == 0)
    if crl_url:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None,
            crl_issuer=None)]), critical=False)
    if aia_url:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(aia_url))]), critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key, hashes.SHA256())


def pick_free_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A currently free TCP port in PORT_RANGE (bind-tested, then released)."""
    for _ in range(attempts):
        port = PORT_RANGE[0] + random.randbelow(PORT_RANGE[1] - PORT_RANGE[0])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        return port
    raise SandboxError("no_free_port", low=PORT_RANGE[0], high=PORT_RANGE[1])


def _load_pem(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(read_bounded(path, _STATE_LIMIT))
    except ValueError:
        raise SandboxError("ca_damaged", path=str(path), reason="not_a_certificate") from None
    except StorageError as exc:
        raise SandboxError("ca_damaged", path=str(path), reason=exc.code) from None


def _parse_csr(csr) -> x509.CertificateSigningRequest:
    if isinstance(csr, x509.CertificateSigningRequest):
        return csr
    data = csr.encode("ascii", "replace") if isinstance(csr, str) else bytes(csr)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError:
        raise SandboxError("csr_unreadable") from None


def _check_csr_key(public_key) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise SandboxError("csr_weak_key", key_type=f"RSA {public_key.key_size}")
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in ("secp256r1", "secp384r1"):
        return
    raise SandboxError("csr_unsupported_key", key_type=type(public_key).__name__)


class PracticeCA:
    """Root + intermediate (+ TLS CA) of one data folder; open with ``PracticeCA.open``."""

    def __init__(self, folder: Path, secrets, state: dict, certs: dict[str, x509.Certificate]) -> None:
        self.folder = folder
        self._secrets = secrets
        self._state = state
        self._certs = certs
        self._keys: dict[str, object] = {}
        self._crls: dict[str, x509.CertificateRevocationList] = {}
        self._lock = threading.RLock()
        self.created = False

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: str | Path, secrets, *, now: datetime | None = None) -> "PracticeCA":
        """Load the CAs of ``folder``, creating them on first use (state.json is written last)."""
        folder = ensure_private_dir(folder)
        state_path = folder / _STATE
        if not state_path.exists():
            return cls._create(folder, secrets, _utcnow(now))
        try:
            state = json.loads(read_bounded(state_path, _STATE_LIMIT))
            int(state["http_port"]), str(state["id"]), dict(state["revoked"]), dict(state["crl_numbers"])
        except (ValueError, KeyError, TypeError):
            raise SandboxError("ca_damaged", path=str(state_path), reason="bad_state") from None
        certs = {name: _load_pem(folder / f"{name}.pem") for name in CA_NAMES}
        return cls(folder, secrets, state, certs)

    @classmethod
    def _create(cls, folder: Path, secrets, now: datetime) -> "PracticeCA":
        ident = random.token_hex(8)
        state = {"version": 1, "id": ident, "http_port": pick_free_port(), "https_port": None,
                 "created": now.isoformat(), "revoked": {}, "crl_numbers": {"root": 0, "intermediate": 0}}
        http = f"http://127.0.0.1:{state['http_port']}"
        keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in CA_NAMES}
        nb = now - _CA_BACKDATE
        root = build_certificate(subject=_name(f"Practice Root CA {ident[:6]}"), public_key=keys["root"].public_key(),
                                 issuer=None, issuer_key=keys["root"], not_before=nb,
                                 not_after=now + timedelta(days=20 * 365), ca=True)
        inter = build_certificate(subject=_name(f"Practice Intermediate CA {ident[:6]}"),
                                  public_key=keys["intermediate"].public_key(), issuer=root,
                                  issuer_key=keys["root"], not_before=nb, not_after=now + timedelta(days=10 * 365),
                                  ca=True, crl_url=f"{http}/crl/root.crl", aia_url=f"{http}/aia/root.cer")
        loopback = x509.NameConstraints(permitted_subtrees=[
            x509.DNSName("localhost"), x509.IPAddress(ip_network("127.0.0.0/8")),
            x509.IPAddress(ip_network("::1/128"))], excluded_subtrees=None)
        tls = build_certificate(subject=_name(f"Practice TLS CA {ident[:6]} (loopback only)"),
                                public_key=keys["tls-ca"].public_key(), issuer=None, issuer_key=keys["tls-ca"],
                                not_before=nb, not_after=now + timedelta(days=20 * 365), ca=True,
                                extra=((loopback, True),))
        certs = {"root": root, "intermediate": inter, "tls-ca": tls}
        ca = cls(folder, secrets, state, certs)
        for name in CA_NAMES:
            # Key only: a certificate bag inside would cost a second KDF at every open.
            save_key(folder / f"{name}.p12", keys[name], secrets, ca._secret_name, replace=True,
                     rounds=CA_KDF_ROUNDS)
            atomic_write(folder / f"{name}.pem", certs[name].public_bytes(serialization.Encoding.PEM))
        ca._keys.update(keys)
        for which in ("root", "intermediate"):
            ca._sign_crl(which, now)
        ca._save_state()
        ca.created = True
        return ca

    @property
    def _secret_name(self) -> str:
        return f"sandbox-ca-{self._state['id']}"

    def _save_state(self) -> None:
        atomic_write(self.folder / _STATE, json.dumps(self._state, indent=2, sort_keys=True).encode("utf-8"))

    def _key(self, name: str):
        """A CA key, decrypted on first use only (each open costs the 600,000-round KDF, ~0.2 s)."""
        with self._lock:
            if name not in self._keys:
                self._keys[name] = load_key(self.folder / f"{name}.p12", self._secrets, self._secret_name).key
            return self._keys[name]

    # --- facts ---------------------------------------------------------------------------------

    @property
    def root_cert(self) -> x509.Certificate:
        return self._certs["root"]

    @property
    def intermediate_cert(self) -> x509.Certificate:
        return self._certs["intermediate"]

    @property
    def tls_ca_cert(self) -> x509.Certificate:
        return self._certs["tls-ca"]

    @property
    def http_port(self) -> int:
        return int(self._state["http_port"])

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def crl_url(self, which: str) -> str:
        return f"{self.http_base}/crl/{which}.crl"

    def aia_url(self, which: str) -> str:
        return f"{self.http_base}/aia/{which}.cer"

    @property
    def https_port(self) -> int | None:
        return self._state.get("https_port")

    def remember_https_port(self, port: int) -> None:
        """Keep the practice server's port, so its base URL survives a restart when it can."""
        with self._lock:
            if self._state.get("https_port") != port:
                self._state["https_port"] = port
                self._save_state()

    # --- issuing -------------------------------------------------------------------------------

    def issue_from_csr(self, csr, *, now: datetime | None = None) -> x509.Certificate:
        """A one-year client certificate whose SAN URIs are exactly the CSR's (other SAN types dropped)."""
        now = _utcnow(now)
        csr = _parse_csr(csr)
        if not csr.is_signature_valid:
            raise SandboxError("csr_bad_signature")
        _check_csr_key(csr.public_key())
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        except x509.ExtensionNotFound:
            uris = []
        except ValueError:
            raise SandboxError("csr_unreadable") from None
        if not uris:
            raise SandboxError("csr_no_uri_san")
        cert = self.issue_leaf(csr.public_key(), subject=csr.subject, san_uris=uris, now=now)
        issued = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if issued.get_values_for_type(x509.UniformResourceIdentifier) != uris:
            raise SandboxError("san_copy_mismatch")
        return cert

    def issue_leaf(self, public_key, *, subject: x509.Name, san_uris: list[str] | None,
                   now: datetime | None = None, not_before: datetime | None = None,
                   not_after: datetime | None = None, crl_url: str | None = None) -> x509.Certificate:
        """An end-entity certificate from the intermediate (client, server UDAP, gallery)."""
        now = _utcnow(now)
        inter = self.intermediate_cert
        return build_certificate(
            subject=subject, public_key=public_key, issuer=inter, issuer_key=self._key("intermediate"),
            not_before=not_before or now - _LEAF_BACKDATE,
            not_after=not_after or min(now + LEAF_VALIDITY, inter.not_valid_after_utc),
            sans=[x509.UniformResourceIdentifier(u) for u in san_uris or ()],
            crl_url=crl_url or self.crl_url("intermediate"), aia_url=self.aia_url("intermediate"))

    def issue_tls_certificate(self, public_key, *, now: datetime | None = None) -> x509.Certificate:
        """The HTTPS certificate for 127.0.0.1, ::1 and localhost (30 days; re-made at every start)."""
        now = _utcnow(now)
        sans = [x509.DNSName("localhost"), x509.IPAddress(ip_network("127.0.0.1/32").network_address),
                x509.IPAddress(ip_network("::1/128").network_address)]
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        return build_certificate(subject=_name("127.0.0.1"), public_key=public_key, issuer=self.tls_ca_cert,
                                 issuer_key=self._key("tls-ca"), not_before=now - timedelta(hours=1),
                                 not_after=now + timedelta(days=30), sans=sans, extra=((eku, False),))

    # --- revocation ----------------------------------------------------------------------------

    def revoke(self, serial: int, *, now: datetime | None = None) -> None:
        """Put a serial on the intermediate's CRL (persisted) and re-sign that CRL at once."""
        now = _utcnow(now)
        with self._lock:
            self._state["revoked"].setdefault(format(serial, "x"), now.isoformat())
            self._save_state()
            self._sign_crl("intermediate", now)

    def is_revoked(self, serial: int) -> bool:
        return format(serial, "x") in self._state["revoked"]

    def crl(self, which: str, *, now: datetime | None = None) -> x509.CertificateRevocationList:
        """The current CRL of "root" or "intermediate", re-signed when < 1 day is left or it is behind."""
        if which not in ("root", "intermediate"):
            raise SandboxError("unknown_ca", name=which)
        now = _utcnow(now)
        with self._lock:
            crl = self._crls.get(which)
            path = self.folder / f"{which}.crl"
            if crl is None and path.exists():
                try:  # a damaged file is simply signed again
                    crl = x509.load_der_x509_crl(read_bounded(path, 5 << 20))
                except (ValueError, StorageError):
                    crl = None
            listed = {format(r.serial_number, "x") for r in crl} if crl is not None else set()
            wanted = set(self._state["revoked"]) if which == "intermediate" else set()
            if crl is None or listed != wanted or crl.next_update_utc - now < CRL_RESIGN_MARGIN:
                crl = self._sign_crl(which, now)
            self._crls[which] = crl
            return crl

    def _sign_crl(self, which: str, now: datetime) -> x509.CertificateRevocationList:
        issuer = self._certs[which]
        number = int(self._state["crl_numbers"].get(which, 0)) + 1
        b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
             .last_update(now - timedelta(minutes=1)).next_update(now + CRL_LIFETIME)
             .add_extension(x509.CRLNumber(number), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False))
        if which == "intermediate":
            for serial_hex, when in sorted(self._state["revoked"].items()):
                b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(int(serial_hex, 16))
                                              .revocation_date(datetime.fromisoformat(when)).build())
        crl = b.sign(self._key(which), hashes.SHA256())
        atomic_write(self.folder / f"{which}.crl", crl.public_bytes(serialization.Encoding.DER))
        self._state["crl_numbers"][which] = number
        self._save_state()
        self._crls[which] = crl
        return crl

    # --- what the plain-http side serves -------------------------------------------------------

    def http_resource(self, path: str, *, now: datetime | None = None) -> tuple[str, bytes] | None:
        """(content type, body) for an AIA or CRL path; None for anything else (-> 404)."""
        der = serialization.Encoding.DER
        if path == "/aia/root.cer":
            return CERT_TYPE, self.root_cert.public_bytes(der)
        if path == "/aia/intermediate.cer":
            return CERT_TYPE, self.intermediate_cert.public_bytes(der)
        if path in ("/crl/root.crl", "/crl/intermediate.crl"):
            return CRL_TYPE, self.crl(path[5:-4], now=now).public_bytes(der)
        return None

    def fetch(self, url: str, kind: str = "crl", *, now: datetime | None = None) -> bytes:
        """A Fetcher answering the CA's own http URLs in-process (exactly what the http side serves)."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.http_base:
            raise NetworkError("connect_failed", url=url, kind=kind)
        found = self.http_resource(parts.path, now=now)
        if found is None:
            raise NetworkError("http_status", url=url, status=404, kind=kind)
        return found[1]

    def write_gallery(self, out_dir: str | Path, client_uri: str, *, now: datetime | None = None):
        """Failing certificates for ``client_uri`` plus README.txt (community.write_gallery)."""
        from app.sandbox.community import write_gallery

        return write_gallery(self, out_dir, client_uri, now=now)
