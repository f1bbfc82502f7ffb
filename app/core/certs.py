"""Read whatever certificate container a community CA sends back, and check it fits our client.

CAs answer with PEM pasted in e-mails, DER, PKCS#7 chains or PKCS#12 (sometimes with a key they
generated). Everything is read with a size bound, and every failure becomes a CertificateError
with a code, so the wizard can say what went wrong and what to do next.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import difflib
import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from app.core.errors import CertificateError, StorageError
from app.core.storage import read_bounded

DEFAULT_LIMIT = 10 * 2**20
EXPIRY_WARNING_DAYS = 30
# What cryptography raises for bytes it cannot parse (three of them are not ValueErrors).
_PARSE_ERRORS = (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType, x509.InvalidVersion)

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END ([A-Z0-9 #]+)-----", re.S)
_CERT_LABELS = {"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"}
_PKCS7_LABELS = {"PKCS7", "PKCS #7 SIGNED DATA", "CMS", "CERTIFICATE CHAIN"}
_CSR_LABELS = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}
# PKCS#12 PBE OIDs (1.2.840.113549.1.12.1.x) whose ciphers (RC2, RC4) live only in OpenSSL's
# legacy provider. 3DES does not need it. Searched as bytes: the AlgorithmIdentifiers are in clear.
_LEGACY_PBE = {b"\x06\x0a\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x01" + bytes([n]): name for n, name in
               [(1, "RC4-128"), (2, "RC4-40"), (5, "RC2-128"), (6, "RC2-40")]}
_KU_NAMES = [("digital_signature", "digitalSignature"), ("content_commitment", "nonRepudiation"),
             ("key_encipherment", "keyEncipherment"), ("data_encipherment", "dataEncipherment"),
             ("key_agreement", "keyAgreement"), ("key_cert_sign", "keyCertSign"), ("crl_sign", "cRLSign")]
_EKU_NAMES = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
              ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning", ExtendedKeyUsageOID.EMAIL_PROTECTION:
              "emailProtection", ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
              ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning", ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE:
              "anyExtendedKeyUsage"}


@dataclass
class LoadedBundle:
    """Certificates in the order found (duplicates dropped) and the key, if a PKCS#12 carried one."""

    certificates: list[x509.Certificate]
    key: Any = None
    source_format: str = "pem"


# --- reading ------------------------------------------------------------------------------------

def _der_header(data: bytes) -> tuple[str | None, int | None]:
    """(kind, total length claimed) of a DER blob: a sniff to pick the loader and to tell a file
    that was cut short from a damaged one. Kind is read from the first inner element."""
    if len(data) < 2 or data[0] != 0x30:
        return None, None
    count = data[1] & 0x7F if data[1] >= 0x80 else 0
    if data[1] == 0x80 or count > 4 or len(data) < 2 + count:
        return None, None
    declared = 2 + count + int.from_bytes(data[2:2 + count], "big") if count else 2 + data[1]
    inner = data[2 + count:5 + count]
    kind = ("pkcs12" if inner == b"\x02\x01\x03" else "pkcs7" if inner[:1] == b"\x06"
            else "certificate" if inner[:1] == b"\x30" else None)
    return kind, declared


def _clean_text(data: bytes) -> str:
    """Undo what mail clients do to PEM: CRLF, indentation and '> ' quote markers."""
    text = data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"(?m)^[ \t>]+|[ \t]+$", "", text)


def _load_der(der: bytes, kind: str | None, password: bytes | None, *, index: int | None = None):
    """Certificates (and key) from one DER object; index is the PEM block number, if any."""
    where = {} if index is None else {"index": index}
    sniffed, declared = _der_header(der)
    kind = kind or sniffed
    if kind is None or declared is None:
        raise CertificateError("unrecognized_format" if index is None else "malformed_pem", kind=kind, **where)
    if declared > len(der):
        raise CertificateError("truncated_pem" if index is not None else "truncated_der", kind=kind,
                               expected_bytes=declared, actual_bytes=len(der), **where)
    try:
        if kind == "pkcs12":
            certs, key = _load_pkcs12(der, password)
        elif kind == "pkcs7":
            certs, key = pkcs7.load_der_pkcs7_certificates(der), None
        else:
            certs, key = [x509.load_der_x509_certificate(der)], None
        for cert in certs:
            _force_parse(cert)
        return certs, key
    except _PARSE_ERRORS as e:
        if kind == "pkcs7" and "no certificate" in str(e).lower():
            raise CertificateError("no_certificates", found=["pkcs7"], **where) from None
        raise CertificateError("malformed_pem" if index is not None else "malformed_der", kind=kind,
                               **where) from None
    except UnsupportedAlgorithm:
        raise CertificateError("unsupported_content", kind=kind, **where) from None


def _force_parse(cert: x509.Certificate) -> None:
    """cryptography parses lazily; touch every field we use so damage fails here, as ValueError."""
    cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), list(cert.extensions)
    cert.not_valid_before_utc, cert.not_valid_after_utc
    try:
        cert.public_key()
    except UnsupportedAlgorithm:
        pass  # an unknown key type is reported by the checks, it does not make the file unreadable


def _legacy_provider_loaded() -> bool:
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl
        return bool(getattr(rust_openssl, "_legacy_provider_loaded", True))
    except ImportError:  # pragma: no cover - layout of a future cryptography
        return True


def _load_pkcs12(data: bytes, password: bytes | None):
    attempts = [password] if password is not None else [None, b""]
    for attempt in attempts:
        try:
            p12 = pkcs12.load_pkcs12(data, attempt)
            break
        except ValueError:
            continue
        except UnsupportedAlgorithm:
            raise CertificateError("pkcs12_unsupported_encryption", algorithm="unknown",
                                   hint="reexport_aes") from None
    else:
        legacy = next((name for oid, name in _LEGACY_PBE.items() if oid in data), None)
        if legacy and not _legacy_provider_loaded():
            raise CertificateError("pkcs12_unsupported_encryption", algorithm=legacy, hint="reexport_aes")
        if password is None:
            raise CertificateError("pkcs12_password_required")
        raise CertificateError("pkcs12_wrong_password")
    certs = ([p12.cert.certificate] if p12.cert else []) + [c.certificate for c in p12.additional_certs]
    if not certs:
        raise CertificateError("no_certificates", found=["pkcs12"] + (["private key"] if p12.key else []))
    return certs, p12.key


def _load_pem(text: str, password: bytes | None):
    certs: list[x509.Certificate] = []
    key = None
    labels: list[str] = []
    formats: set[str] = set()
    begins = [m.start() for m in re.finditer(r"-----BEGIN ", text)]
    blocks = {m.start(): m for m in _PEM_BLOCK.finditer(text)}
    for index, start in enumerate(begins):
        block = blocks.get(start)
        nxt = begins[index + 1] if index + 1 < len(begins) else len(text)
        if block is None or block.end() > nxt or block.group(1) != block.group(3):
            label = re.match(r"-----BEGIN ([A-Z0-9 #]*)", text[start:])
            raise CertificateError("truncated_pem", index=index, label=label.group(1) if label else "")
        label = block.group(1)
        labels.append(label)
        if label not in _CERT_LABELS | _PKCS7_LABELS | {"PKCS12"}:
            continue  # keys, CSRs, CRLs: noted in labels, never decoded (a key stays where it is)
        body = "\n".join(ln for ln in block.group(2).split("\n") if ":" not in ln)  # RFC 1421 headers
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise CertificateError("malformed_pem", index=index, label=label, reason="base64") from None
        kind = "pkcs7" if label in _PKCS7_LABELS else "pkcs12" if label == "PKCS12" else "certificate"
        if label == "TRUSTED CERTIFICATE":  # OpenSSL appends trust settings after the certificate
            der = der[:_der_header(der)[1] or len(der)]
        found, found_key = _load_der(der, kind, password, index=index)
        certs += found
        key = key or found_key
        formats.add(kind)
    if not certs:
        if labels and set(labels) & _CSR_LABELS:
            raise CertificateError("csr_not_certificate", found=labels)
        raise CertificateError("no_certificates", found=labels)
    fmt = "pem" if formats == {"certificate"} else "+".join(f"{k}-pem" for k in sorted(formats))
    return certs, key, fmt.replace("certificate-pem", "pem")


def _dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    seen, out = set(), []
    for cert in certs:
        der = cert.public_bytes(serialization.Encoding.DER)
        if der not in seen:
            seen.add(der)
            out.append(cert)
    return out


def load_certificates(data: bytes, password: bytes | None = None, *, limit: int = DEFAULT_LIMIT) -> LoadedBundle:
    """PEM (any number, junk around), DER, PKCS#7 (PEM/DER) or PKCS#12, told apart by content."""
    if len(data) > limit:
        raise CertificateError("too_large", size=len(data), limit=limit)
    if isinstance(password, str):
        password = password.encode("utf-8")
    if not data.strip():
        raise CertificateError("empty")
    if b"-----BEGIN" in data:
        certs, key, fmt = _load_pem(_clean_text(data), password)
        return LoadedBundle(_dedupe(certs), key, fmt)
    kind, _ = _der_header(data)
    if kind is None:
        compact = b"".join(data.split())
        if re.fullmatch(rb"[A-Za-z0-9+/]+={0,2}", compact):  # bare base64 pasted without the armour
            try:
                decoded = base64.b64decode(compact, validate=True)
            except (binascii.Error, ValueError):
                decoded = b""
            if _der_header(decoded)[0]:
                bundle = load_certificates(decoded, password, limit=limit)
                return LoadedBundle(bundle.certificates, bundle.key, "base64-" + bundle.source_format)
        raise CertificateError("unrecognized_format")
    certs, key = _load_der(data, kind, password)
    return LoadedBundle(_dedupe(certs), key, {"certificate": "der", "pkcs7": "pkcs7-der"}.get(kind, kind))


def _read_file(path: Path, limit: int) -> bytes:
    """storage.read_bounded (never more than limit+1 bytes), its errors re-typed for this step."""
    try:
        return read_bounded(path, limit)
    except StorageError as e:
        code = "empty" if e.code == "file_empty" else e.code
        raise CertificateError(code, **e.fields) from None


def load_certificate_files(paths: Sequence[str | Path] | str | Path, password: bytes | None = None,
                           limit: int = DEFAULT_LIMIT) -> LoadedBundle:
    """Load and merge several files (e.g. leaf.cer + chain.p7b); errors name the file."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    certs: list[x509.Certificate] = []
    key, formats = None, []
    for path in paths:
        data = _read_file(Path(path), limit)
        try:
            bundle = load_certificates(data, password, limit=limit)
        except CertificateError as e:
            raise CertificateError(e.code, **{**e.fields, "path": str(path)}) from None
        certs += bundle.certificates
        key = key or bundle.key
        if bundle.source_format not in formats:
            formats.append(bundle.source_format)
    if not certs:
        raise CertificateError("empty")
    return LoadedBundle(_dedupe(certs), key, "+".join(formats))


# --- chain ----------------------------------------------------------------------------------------

def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _cert_spki(cert: x509.Certificate) -> bytes | None:
    """None for a key type cryptography does not know (reported by the checks, not fatal)."""
    try:
        return _spki(cert.public_key())
    except (UnsupportedAlgorithm, ValueError):
        return None


def key_fingerprint(key) -> str:
    """SHA-256 of the SubjectPublicKeyInfo: identifies a key without revealing anything secret."""
    from app.core.keys import public_key_fingerprint

    return public_key_fingerprint(key)


def find_leaf(certs: Sequence[x509.Certificate], key) -> x509.Certificate:
    """The certificate for our key; among several (renewals), the non-CA one issued last."""
    public = key.public_key() if hasattr(key, "public_key") else key
    ours = _spki(public)
    matches = [c for c in certs if _cert_spki(c) == ours]
    if not matches:
        raise CertificateError("no_certificate_for_key", key_fingerprint=key_fingerprint(public),
                               certificates=[c.subject.rfc4514_string() for c in certs])
    return max(matches, key=lambda c: (not is_ca(c), c.not_valid_before_utc))


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def order_chain(leaf: x509.Certificate, certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """leaf -> issuer -> ... -> root as far as the given certificates go; unrelated ones are dropped."""
    chain = [leaf]
    pool = [c for c in _dedupe(certs) if c != leaf]
    current = leaf
    while current.issuer != current.subject or not _issued_by(current, current):
        parent = next((c for c in pool if _issued_by(current, c)), None)
        if parent is None:
            break
        chain.append(parent)
        pool.remove(parent)
        current = parent
    return chain


# --- summary --------------------------------------------------------------------------------------

def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest().hex(":").upper()


def _ext(cert: x509.Certificate, cls):
    """An extension's value, or None when absent or malformed (a summary must never crash)."""
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except (x509.ExtensionNotFound, *_PARSE_ERRORS):
        return None


def is_ca(cert: x509.Certificate) -> bool:
    """basicConstraints CA:TRUE (absent or malformed: not a CA)."""
    bc = _ext(cert, x509.BasicConstraints)
    return bool(bc and bc.ca)


def san_uris(cert: x509.Certificate) -> list[str]:
    san = _ext(cert, x509.SubjectAlternativeName)
    return san.get_values_for_type(x509.UniformResourceIdentifier) if san else []


_SAN_PREFIX = {x509.DNSName: "DNS", x509.RFC822Name: "email", x509.IPAddress: "IP", x509.DirectoryName: "DirName",
               x509.RegisteredID: "RID", x509.OtherName: "otherName"}


def _san_other(cert: x509.Certificate) -> list[str]:
    out = []
    for name in _ext(cert, x509.SubjectAlternativeName) or []:
        if type(name) in _SAN_PREFIX:
            value = name.type_id if isinstance(name, x509.OtherName) else name.value
            text = value.rfc4514_string() if isinstance(value, x509.Name) else getattr(value, "dotted_string", value)
            out.append(f"{_SAN_PREFIX[type(name)]}:{text}")
    return out


def key_description(cert_or_key) -> str:
    """"RSA 3072", "EC P-256", "Ed25519"... for people, not for logic."""
    try:
        key = cert_or_key.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "unsupported"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {curves.get(key.curve.name, key.curve.name)}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__


def _days_left(cert: x509.Certificate, now: dt.datetime) -> int:
    return (cert.not_valid_after_utc - now) // dt.timedelta(days=1)


@dataclass
class CertSummary:
    """What a person (or an auditor's report) needs to recognise one certificate."""

    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    days_left: int
    san_uris: list[str]
    san_other: list[str]
    key_type: str
    key_usage: list[str]
    extended_key_usage: list[str]
    is_ca: bool
    aia_ca_issuers: list[str]
    aia_ocsp: list[str]
    crl_urls: list[str]
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["not_before"] = self.not_before.isoformat()
        d["not_after"] = self.not_after.isoformat()
        return d


def summarize(cert: x509.Certificate, now: dt.datetime | None = None) -> CertSummary:
    now = now or dt.datetime.now(dt.timezone.utc)
    ku = _ext(cert, x509.KeyUsage)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    aia = _ext(cert, x509.AuthorityInformationAccess) or []
    cdp = _ext(cert, x509.CRLDistributionPoints) or []

    def aia_urls(method):
        return [d.access_location.value for d in aia if d.access_method == method
                and isinstance(d.access_location, x509.UniformResourceIdentifier)]

    serial = format(cert.serial_number, "X")
    return CertSummary(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        serial=serial.rjust(len(serial) + len(serial) % 2, "0"),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        days_left=_days_left(cert, now), san_uris=san_uris(cert), san_other=_san_other(cert),
        key_type=key_description(cert),
        key_usage=[label for attr, label in _KU_NAMES if ku and getattr(ku, attr)],
        extended_key_usage=[_EKU_NAMES.get(oid, oid.dotted_string) for oid in (eku or [])],
        is_ca=is_ca(cert), aia_ca_issuers=aia_urls(AuthorityInformationAccessOID.CA_ISSUERS),
        aia_ocsp=aia_urls(AuthorityInformationAccessOID.OCSP),
        crl_urls=[n.value for dp in cdp for n in (dp.full_name or []) if isinstance(n, x509.UniformResourceIdentifier)],
        fingerprint=fingerprint(cert),
    )


# --- checks ---------------------------------------------------------------------------------------

@dataclass
class Problem:
    """One finding about a certificate; severity "error" blocks, "warning" informs."""

    code: str
    severity: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "fields": dict(self.fields)}


def first_difference(a: str, b: str) -> int:
    """Index of the first differing character; the shorter length if one is a prefix of the other."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _uri_difference(expected: str, found: str) -> str:
    if expected.rstrip("/") == found.rstrip("/"):
        return "trailing_slash"
    if expected.lower() == found.lower():
        return "case"
    return "other"


def _uri_problem(cert: x509.Certificate, client_uri: str) -> Problem | None:
    uris = san_uris(cert)
    if not uris:
        return Problem("no_uri_san", "error", {"expected": client_uri})
    if client_uri in uris:
        return None
    closest = max(uris, key=lambda u: (first_difference(client_uri, u),
                                       difflib.SequenceMatcher(None, client_uri, u).ratio()))
    return Problem("client_uri_missing", "error", {
        "expected": client_uri, "closest": closest, "position": first_difference(client_uri, closest),
        "difference": _uri_difference(client_uri, closest), "san_uris": uris})


def _key_problem(cert: x509.Certificate) -> Problem | None:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return Problem("unsupported_key_type", "error", {"key_type": "unsupported"})
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return Problem("weak_key", "error", {"key_type": key_description(cert), "minimum": "RSA 2048"})
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1"):
        return None
    return Problem("unsupported_key_type", "error", {"key_type": key_description(cert)})


def check_client_certificate(leaf: x509.Certificate, key, client_uri: str,
                             now: dt.datetime | None = None) -> list[Problem]:
    """Everything that would make a server refuse our JWTs, before we send any (key None: skip key)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    problems: list[Problem | None] = []
    if key is not None:
        public = key.public_key() if hasattr(key, "public_key") else key
        if _cert_spki(leaf) != _spki(public):
            problems.append(Problem("key_mismatch", "error", {
                "certificate_key": key_fingerprint(leaf.public_key()) if _cert_spki(leaf) else "unsupported",
                "our_key": key_fingerprint(public)}))
    problems.append(_uri_problem(leaf, client_uri))
    nb, na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now < nb:
        problems.append(Problem("not_yet_valid", "error", {"not_before": nb.isoformat(),
                                                           "days_until": (nb - now) // dt.timedelta(days=1)}))
    elif now > na:
        problems.append(Problem("expired", "error", {"not_after": na.isoformat(),
                                                     "days_ago": (now - na) // dt.timedelta(days=1)}))
    elif na - now < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        problems.append(Problem("expires_soon", "warning", {"not_after": na.isoformat(),
                                                            "days_left": _days_left(leaf, now)}))
    ku = _ext(leaf, x509.KeyUsage)
    if ku is None:
        problems.append(Problem("no_key_usage", "warning", {}))
    elif not ku.digital_signature:
        problems.append(Problem("no_digital_signature", "error", {
            "key_usage": [label for attr, label in _KU_NAMES if getattr(ku, attr)]}))
    if is_ca(leaf):
        problems.append(Problem("is_ca", "error", {}))
    problems.append(_key_problem(leaf))
    return [p for p in problems if p is not None]
