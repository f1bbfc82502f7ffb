"""A small PKI builder for tests: the tests make their own CAs, leaves and CRLs at run time.

Keys are cached per (type) within a process because RSA generation is slow; certificates are
cheap and made fresh for each use. Nothing here is ever written to the repository.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


@lru_cache(maxsize=None)
def cached_key(kind: str = "rsa2048", slot: int = 0):
    """A key per (kind, slot): slots let a test ask for distinct keys of the same kind."""
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(kind)


def name(cn: str, org: str = "Test Community") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


@dataclass
class Issued:
    cert: x509.Certificate
    key: object

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


@dataclass
class CA(Issued):
    crl_url: str | None = None
    aia_url: str | None = None
    revoked: dict[int, dt.datetime] = field(default_factory=dict)

    def crl(self, now: dt.datetime = NOW, next_update: dt.timedelta = dt.timedelta(days=7),
            signer=None) -> x509.CertificateRevocationList:
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
                   .last_update(now - dt.timedelta(hours=1)).next_update(now + next_update))
        for serial, when in self.revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
        key = signer or self.key
        return builder.sign(key, hashes.SHA256())

    def revoke(self, cert: x509.Certificate, when: dt.datetime = NOW - dt.timedelta(days=1)) -> None:
        self.revoked[cert.serial_number] = when


def _sign_alg(key):
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def make_ca(cn: str, parent: CA | None = None, *, key=None, not_before: dt.datetime | None = None,
            not_after: dt.datetime | None = None, crl_url: str | None = None, aia_url: str | None = None,
            serial: int | None = None, is_ca: bool = True, own_crl_url: str | None = None) -> CA:
    """A root (parent None) or an intermediate. ``crl_url``/``aia_url`` are where *its* children point;
    ``own_crl_url`` puts a CRL distribution point in a root itself (some servers read only the anchor's)."""
    # Slots 10-16, chosen by a stable hash of the name: str hash() changes per process, and tests
    # ask for slots 1-9 when they need a key that is certainly not a CA's.
    key = key or cached_key("rsa2048", 10 + zlib.crc32(cn.encode()) % 7)
    issuer_name = parent.cert.subject if parent else name(cn)
    signer = parent.key if parent else key
    nb = not_before or NOW - dt.timedelta(days=365)
    na = not_after or NOW + dt.timedelta(days=3650)
    b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer_name).public_key(key.public_key())
         .serial_number(serial or x509.random_serial_number()).not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                      crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if parent:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), critical=False)
        b = _add_distribution(b, parent.crl_url, parent.aia_url)
    elif own_crl_url:
        b = _add_distribution(b, own_crl_url, None)
    cert = b.sign(signer, _sign_alg(signer))
    return CA(cert=cert, key=key, crl_url=crl_url, aia_url=aia_url)


def _add_distribution(b, crl_url, aia_url):
    if crl_url:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None,
            crl_issuer=None)]), critical=False)
    if aia_url:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(aia_url))]), critical=False)
    return b


def make_leaf(issuer: CA, san_uris: list[str] | None = ("https://client.example.org/app",), *, key=None,
              cn: str = "Test Client", not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None, digital_signature: bool = True, is_ca: bool = False,
              eku: list | None = None, san_dns: list[str] | None = None) -> Issued:
    key = key or cached_key("rsa2048", 0)
    nb = not_before or NOW - dt.timedelta(days=30)
    na = not_after or NOW + dt.timedelta(days=335)
    b = (x509.CertificateBuilder().subject_name(name(cn, "Test Clinic")).issuer_name(issuer.cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=digital_signature, content_commitment=False,
                                      key_encipherment=not digital_signature, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=False, crl_sign=False,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False))
    names = [x509.UniformResourceIdentifier(u) for u in (san_uris or [])]
    names += [x509.DNSName(d) for d in (san_dns or [])]
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    b = _add_distribution(b, issuer.crl_url, issuer.aia_url)
    return Issued(cert=b.sign(issuer.key, _sign_alg(issuer.key)), key=key)


@dataclass
class Community:
    """root -> intermediate -> leaf, with CRL and AIA URLs under ``base`` (served by a fake fetcher)."""

    root: CA
    intermediate: CA
    leaf: Issued
    base: str

    def files(self, now: dt.datetime = NOW) -> dict[str, bytes]:
        """What a CRL/AIA server would answer, by URL."""
        return {
            f"{self.base}/root.crl": self.root.crl(now).public_bytes(serialization.Encoding.DER),
            f"{self.base}/intermediate.crl": self.intermediate.crl(now).public_bytes(serialization.Encoding.DER),
            f"{self.base}/root.cer": self.root.der,
            f"{self.base}/intermediate.cer": self.intermediate.der,
        }

    def fetcher(self, now: dt.datetime = NOW, overrides: dict[str, bytes | Exception] | None = None):
        """A fetch(url, kind) callable answering from ``files()``; records calls in ``.calls``."""
        table: dict[str, bytes | Exception] = dict(self.files(now))
        table.update(overrides or {})

        def fetch(url: str, kind: str = "crl") -> bytes:
            fetch.calls.append(url)
            value = table.get(url)
            if value is None:
                from app.core.errors import NetworkError
                raise NetworkError("http_status", url=url, status=404)
            if isinstance(value, Exception):
                raise value
            return value

        fetch.calls = []
        return fetch


def make_community(base: str = "http://pki.test", san_uris=("https://client.example.org/app",), *,
                   leaf_key=None, **leaf_kwargs) -> Community:
    root = make_ca("Test Root CA", crl_url=f"{base}/root.crl", aia_url=f"{base}/root.cer")
    inter = make_ca("Test Intermediate CA", root, crl_url=f"{base}/intermediate.crl",
                    aia_url=f"{base}/intermediate.cer")
    leaf = make_leaf(inter, list(san_uris) if san_uris else None, key=leaf_key, **leaf_kwargs)
    return Community(root=root, intermediate=inter, leaf=leaf, base=base)
