"""The fault server's PKI, made at run time with tests/pki.py helpers (nothing is stored in the repo).

A UDAP community (root, intermediate, metadata signer, CRLs the fault server serves over plain http)
and a TLS root with one server certificate per TLS listener: good, wrong name, self-signed, expired.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.pki import cached_key, make_ca, make_leaf, name

DAY = dt.timedelta(days=1)


class FaultPki:
    """``pki_base``: where the CRLs are published; ``base_url``: the metadata signer's URI SAN."""

    def __init__(self, pki_base: str, base_url: str, now: dt.datetime) -> None:
        self.now = now
        self.root = make_ca("Faultlab Root CA", crl_url=f"{pki_base}/root.crl", not_before=now - 30 * DAY,
                            not_after=now + 3650 * DAY)
        self.intermediate = make_ca("Faultlab Intermediate CA", self.root, crl_url=f"{pki_base}/intermediate.crl",
                                    not_before=now - 30 * DAY, not_after=now + 1825 * DAY)
        self.signer = make_leaf(self.intermediate, [base_url], key=cached_key("rsa2048", 3),
                                cn="Faultlab metadata signer", not_before=now - DAY, not_after=now + 365 * DAY)
        der = serialization.Encoding.DER
        self.crls = {"/pki/root.crl": self.root.crl(now).public_bytes(der),
                     "/pki/intermediate.crl": self.intermediate.crl(now).public_bytes(der)}
        self.tls_root = make_ca("Faultlab TLS Root", key=cached_key("rsa2048", 5))
        real = dt.datetime.now(dt.timezone.utc)  # OpenSSL checks TLS certificates against the real clock
        ip = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        good = self._tls_cert(self.tls_root, ip, real - DAY, real + 30 * DAY)
        self.tls_certs = {
            "good": good, "other": good,
            "wrong_name": self._tls_cert(self.tls_root, [x509.DNSName("other.example")], real - DAY, real + 30 * DAY),
            "self_signed": self._tls_cert(None, ip, real - DAY, real + 30 * DAY),
            "expired": self._tls_cert(self.tls_root, ip, real - 30 * DAY, real - DAY),
        }

    def issue_client(self, private_key, client_uri: str):
        """The client's certificate from the community intermediate, for ``private_key``."""
        return make_leaf(self.intermediate, [client_uri], key=private_key, not_before=self.now - DAY,
                         not_after=self.now + 365 * DAY)

    @staticmethod
    def _tls_cert(issuer, names, not_before, not_after) -> x509.Certificate:
        """A TLS server certificate (``issuer`` None: self-signed) for the given subjectAltNames."""
        key = cached_key("rsa2048", 4)
        subject = name("faultlab tls server")
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer.cert.subject if issuer else subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(not_before)
                   .not_valid_after(not_after)
                   .add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        return builder.sign(issuer.key if issuer else key, hashes.SHA256())

    def server_context(self, label: str, folder: Path) -> ssl.SSLContext:
        """ssl wants files: the key goes to disk encrypted under a random password, never in clear."""
        folder.mkdir(parents=True, exist_ok=True)
        password = secrets.token_bytes(16).hex().encode()
        key = cached_key("rsa2048", 4)
        (folder / "cert.pem").write_bytes(self.tls_certs[label].public_bytes(serialization.Encoding.PEM))
        (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.BestAvailableEncryption(password)))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem", password=password)
        return ctx
