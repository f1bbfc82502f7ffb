"""The client's subject, client URI and PKCS#10 request for the community CA.

The client URI goes in a SAN URI and later in the software statement's ``iss``; servers compare
it byte for byte, so it is validated strictly here, once, before it is baked into a certificate.
"""

from __future__ import annotations

import functools
import re
import shlex
import string
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from app.core.errors import InputError

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_URI_CHARS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NAME_ORDER = ((NameOID.COUNTRY_NAME, "C", "country"), (NameOID.STATE_OR_PROVINCE_NAME, "ST", "state"),
               (NameOID.LOCALITY_NAME, "L", "locality"), (NameOID.ORGANIZATION_NAME, "O", "organization"),
               (NameOID.ORGANIZATIONAL_UNIT_NAME, "OU", "org_unit"), (NameOID.COMMON_NAME, "CN", "common_name"),
               (NameOID.EMAIL_ADDRESS, "emailAddress", "email"))


@dataclass(init=False, slots=True)
class Subject:
    """Distinguished-name fields of the CSR; checked on creation so a bad one cannot exist.

    Blank means absent. The checks are written out field by field (no loop over a table, no
    __post_init__): they run for every CSR, right after OpenSSL has evicted Python from the CPU
    caches, where each step costs about twice what it does in isolation (tests/bench/bench_keys.py).
    """

    common_name: str
    organization: str
    org_unit: str | None
    locality: str | None
    state: str | None
    country: str | None
    email: str | None

    def __init__(self, common_name: str, organization: str, org_unit: str | None = None,
                 locality: str | None = None, state: str | None = None, country: str | None = None,
                 email: str | None = None) -> None:
        self.common_name = _text("common_name", common_name, 64)
        self.organization = _text("organization", organization, 64)
        self.org_unit = None if org_unit is None else _text("org_unit", org_unit, 64)
        self.locality = None if locality is None else _text("locality", locality, 128)
        self.state = None if state is None else _text("state", state, 128)
        self.email = None if email is None else _text("email", email, 255)
        if not self.common_name:
            raise InputError("subject_field_required", field="common_name")
        if not self.organization:
            raise InputError("subject_field_required", field="organization")
        self.country = None
        if country is not None and (c := str(country).strip()):
            if len(c) != 2 or not (c.isascii() and c.isalpha()):
                raise InputError("country_invalid", value=country)
            self.country = c.upper()
        if self.email is not None and (not self.email.isascii() or not _EMAIL.fullmatch(self.email)):
            raise InputError("email_invalid", value=self.email)

    def _pairs(self) -> list[tuple[x509.ObjectIdentifier, str, str]]:
        """(OID, openssl short name, value) in the usual C, ST, L, O, OU, CN, email order."""
        return [(oid, short, value) for oid, short, attr in _NAME_ORDER if (value := getattr(self, attr))]

    def to_x509_name(self) -> x509.Name:
        """The same order as _NAME_ORDER, written out (runs once per CSR; see the class docstring)."""
        attrs = []
        if self.country:
            attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, self.country))
        if self.state:
            attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, self.state))
        if self.locality:
            attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, self.locality))
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization))
        if self.org_unit:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, self.org_unit))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, self.common_name))
        if self.email:
            attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, self.email))
        return x509.Name(attrs)

    def openssl_subj(self) -> str:
        """The ``-subj`` form: /C=US/O=.../CN=..., with / + and \\ escaped as openssl requires."""
        def esc(value: str) -> str:
            return re.sub(r"([/+\\])", r"\\\1", value)
        return "".join(f"/{short}={esc(value)}" for _, short, value in self._pairs())


def _text(field: str, value, limit: int) -> str | None:
    """One subject field: stripped, None when blank; too long or a control character is refused.

    Upper bounds from RFC 5280 Appendix A (ub-*); cryptography refuses longer CN/O/OU outright.
    """
    if value is None:
        return None
    value = str(value).strip()
    if len(value) > limit:
        raise InputError("subject_field_too_long", field=field, length=len(value), limit=limit)
    if not value.isprintable():  # isprintable: the fast path; the regex names the position
        bad = _CONTROL.search(value)
        if bad is not None:
            raise InputError("subject_field_control_character", field=field, position=bad.start())
    return value or None


def validate_client_uri(uri: str | None) -> list[str]:
    """Raise on a URI that cannot be a client URI; return warning codes for risky-but-legal ones."""
    if uri is None or uri == "":
        raise InputError("client_uri_empty", uri=uri or "")
    if not isinstance(uri, str):
        raise InputError("client_uri_invalid_character", uri=repr(uri), position=0)
    return list(_validated(uri))


@functools.lru_cache(maxsize=256)
def _validated(uri: str) -> tuple[str, ...]:
    """The checks behind validate_client_uri, remembered per URI (pure; a refusal is not cached).

    Every keystroke in the wizard's client-URI field and every CSR runs them; the same few URIs
    come back again and again.
    """
    if not _URI_CHARS.issuperset(uri):  # the per-character scans only run to name the culprit
        for i, ch in enumerate(uri):
            if ch.isspace():
                raise InputError("client_uri_whitespace", uri=uri, position=i)
        for i, ch in enumerate(uri):
            if not ch.isascii():
                raise InputError("client_uri_not_ascii", uri=uri, position=i)
        for i, ch in enumerate(uri):
            if ch not in _URI_CHARS:
                raise InputError("client_uri_invalid_character", uri=uri, position=i)
    if "#" in uri:
        raise InputError("client_uri_has_fragment", uri=uri, position=uri.index("#"))
    bad_pct = _BAD_PERCENT.search(uri) if "%" in uri else None
    if bad_pct:
        raise InputError("client_uri_invalid_character", uri=uri, position=bad_pct.start())
    scheme, sep, _ = uri.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise InputError("client_uri_not_absolute", uri=uri, position=0)
    if not uri[len(scheme) + 1:].startswith("//"):
        raise InputError("client_uri_not_absolute", uri=uri, position=len(scheme) + 1)
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 - raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise InputError("client_uri_bad_port", uri=uri, position=len(scheme) + 3) from None
    if not parts.hostname:
        raise InputError("client_uri_not_absolute", uri=uri, position=len(scheme) + 3)
    warnings = []
    if scheme.lower() == "http":
        warnings.append("http_scheme")
    host_part = uri[: len(scheme) + 3 + len(parts.netloc)]
    if host_part != host_part.lower():  # ASCII only by now
        warnings.append("uppercase_scheme_or_host")
    if uri.endswith("/"):
        warnings.append("trailing_slash")
    return tuple(warnings)


def _hash_for(key):
    """SHA-384 pairs with P-384 (ES384); everything else signs with SHA-256."""
    kind = _KIND.get(type(key))
    if kind is None:  # isinstance against these ABCs costs ~1 us: once per key class
        kind = _KIND[type(key)] = ("ec" if isinstance(key, ec.EllipticCurvePrivateKey)
                                   else "rsa" if isinstance(key, rsa.RSAPrivateKey) else "other")
    if kind == "ec":
        curve = key.curve.name
        if curve == "secp256r1":
            return _SHA256
        if curve == "secp384r1":
            return _SHA384
        raise InputError("unsupported_key_type", key_type=f"EC {curve}")
    if kind == "rsa":
        if key.key_size < 2048:
            raise InputError("key_too_small", key_size=key.key_size)
        return _SHA256
    raise InputError("unsupported_key_type", key_type=type(key).__name__)


_KIND: dict[type, str] = {}
_SHA256, _SHA384 = hashes.SHA256(), hashes.SHA384()  # stateless algorithm descriptions


def _checked_uris(client_uris) -> list[str]:
    uris = list(client_uris or [])
    if not uris:
        raise InputError("client_uri_empty", uri="")
    for uri in uris:
        if type(uri) is not str or not uri:
            validate_client_uri(uri)  # refuses it with the right message
        _validated(uri)  # remembered per URI: no list copy, no wrapper checks
    if len(uris) > 1:
        for i, uri in enumerate(uris):
            if uri in uris[:i]:
                raise InputError("client_uri_duplicate", uri=uri)
    return uris


# Immutable value objects, the same in every request: built once.
_KEY_USAGE = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                           data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                           encipher_only=False, decipher_only=False)
_NOT_A_CA = x509.BasicConstraints(ca=False, path_length=None)


def build_csr(key, subject: Subject, client_uris: list[str]) -> x509.CertificateSigningRequest:
    """PKCS#10 signed by ``key`` (proof of possession); SAN URIs in the given order, client URI first."""
    uris = _checked_uris(client_uris)
    algorithm = _hash_for(key)
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject.to_x509_name())
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
                       critical=False)
        .add_extension(_KEY_USAGE, critical=True)
        .add_extension(_NOT_A_CA, critical=True)
    )
    return builder.sign(key, algorithm)


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


_GENPKEY = {
    "rsa-2048": ("-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "-sha256"),
    "rsa-3072": ("-algorithm RSA -pkeyopt rsa_keygen_bits:3072", "-sha256"),
    "rsa-4096": ("-algorithm RSA -pkeyopt rsa_keygen_bits:4096", "-sha256"),
    "ec-p256": ("-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "-sha256"),
    "ec-p384": ("-algorithm EC -pkeyopt ec_paramgen_curve:P-384", "-sha384"),
}


def openssl_commands(subject: Subject, client_uris: list[str], key_type="rsa-3072") -> str:
    """Shell lines an auditor can run to make the same kind of request with openssl alone.

    The key is written encrypted (openssl asks for a passphrase), matching our rule that a private
    key never sits on disk in the clear. A comma inside a URI would break openssl's -addext
    syntax, so such URIs are refused here rather than producing a silently different CSR.
    """
    kind = str(getattr(key_type, "value", key_type))
    if kind not in _GENPKEY:
        raise InputError("unknown_key_type", value=kind)
    uris = _checked_uris(client_uris)
    for uri in uris:
        if "," in uri:
            raise InputError("client_uri_not_openssl_safe", uri=uri, position=uri.index(","))
    keygen, digest = _GENPKEY[kind]
    san = ",".join(f"URI:{u}" for u in uris)
    return "\n".join([
        "# 1. Private key (encrypted with AES-256; openssl asks for a passphrase)",
        f"openssl genpkey {keygen} -aes-256-cbc -out client-key.pem",
        "# 2. Certificate signing request",
        f"openssl req -new -key client-key.pem {digest} -utf8 -subj {shlex.quote(subject.openssl_subj())}"
        f" -addext {shlex.quote('subjectAltName=' + san)}"
        " -addext 'keyUsage=critical,digitalSignature'"
        " -addext 'basicConstraints=critical,CA:FALSE'"
        " -out client.csr",
        "# 3. Check the signature and show the content",
        "openssl req -in client.csr -verify -noout -text",
    ]) + "\n"
