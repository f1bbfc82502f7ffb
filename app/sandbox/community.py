"""What the practice community publishes: its identity, the server's UDAP metadata, a tiny FHIR
data set, and a gallery of deliberately broken client certificates (as real test communities do).

Plain data builders; the server (server.py) signs and serves them, the CA (ca.py) issues.
"""

from __future__ import annotations

import secrets as random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from app.core import jose
from app.core.certs import fingerprint
from app.core.errors import SandboxError
from app.core.storage import atomic_write, ensure_private_dir
from app.sandbox.ca import build_certificate

COMMUNITY_URI = "urn:udap-onboard:practice"
COMMUNITY_NAME = "Practice community (this computer)"
SCOPES_SUPPORTED = ("system/Patient.read", "system/Observation.read", "system/*.read")
GRANT_TYPES_SUPPORTED = ("client_credentials",)
SIGNING_ALGS = ("RS256", "RS384", "ES256", "ES384")
METADATA_LIFETIME = 3600
GALLERY_KDF_ROUNDS = 10_000
UNAPPROVED = "unapproved_software_statement"
INVALID = "invalid_software_statement"


@dataclass(frozen=True)
class Endpoints:
    """The practice server's URLs, derived from its HTTPS origin."""

    origin: str

    @property
    def base_url(self) -> str:
        return f"{self.origin}/fhir"

    @property
    def registration(self) -> str:
        return f"{self.origin}/register"

    @property
    def token(self) -> str:
        return f"{self.origin}/token"


def metadata(ep: Endpoints) -> dict:
    """The unsigned part of /.well-known/udap (IG §2.2); signed_metadata is added by the server."""
    return {
        "udap_versions_supported": ["1"],
        "udap_profiles_supported": ["udap_dcr", "udap_authn", "udap_authz"],
        "udap_authorization_extensions_supported": ["hl7-b2b"],
        "udap_authorization_extensions_required": ["hl7-b2b"],
        "udap_certifications_supported": [],
        "udap_certifications_required": [],
        "grant_types_supported": list(GRANT_TYPES_SUPPORTED),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "token_endpoint": ep.token,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
        "registration_endpoint": ep.registration,
        "registration_endpoint_jwt_signing_alg_values_supported": list(SIGNING_ALGS),
    }


def signed_metadata_claims(ep: Endpoints, now: datetime) -> dict:
    iat = int(now.timestamp())
    return {"iss": ep.base_url, "sub": ep.base_url, "iat": iat, "exp": iat + METADATA_LIFETIME,
            "jti": jose.new_jti(), "token_endpoint": ep.token, "registration_endpoint": ep.registration}


def describe(ca, ep: Endpoints) -> dict:
    """The running practice server as a trust community (the lead turns it into a TrustCommunity)."""
    pem = serialization.Encoding.PEM
    return {"name": COMMUNITY_NAME, "community_uri": COMMUNITY_URI,
            "anchor_pem": ca.root_cert.public_bytes(pem).decode("ascii"),
            "anchor_fingerprint": fingerprint(ca.root_cert),
            "tls_anchor_pem": ca.tls_ca_cert.public_bytes(pem).decode("ascii"),
            "base_url": ep.base_url, "revocation": "hard"}


def capability_statement(ep: Endpoints, now: datetime) -> dict:
    return {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
            "date": now.date().isoformat(), "fhirVersion": "4.0.1", "format": ["json"],
            "implementation": {"description": COMMUNITY_NAME, "url": ep.base_url},
            "rest": [{"mode": "server",
                      "security": {"service": [{"text": "UDAP / HL7 FAST Security, client_credentials + hl7-b2b"}]},
                      "resource": [{"type": "Patient", "interaction": [{"code": "search-type"}]}]}]}


_PATIENTS = (("practice-1", "Rivera", "Ana", "female", "1980-04-12"),
             ("practice-2", "Okafor", "Chidi", "male", "1975-11-03"))


def patient_bundle(ep: Endpoints) -> dict:
    entries = [{"fullUrl": f"{ep.base_url}/Patient/{pid}",
                "resource": {"resourceType": "Patient", "id": pid, "name": [{"family": family, "given": [given]}],
                             "gender": gender, "birthDate": born}, "search": {"mode": "match"}}
               for pid, family, given, gender, born in _PATIENTS]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


# --- the gallery ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GalleryItem:
    """One practice certificate that must be refused, and how the practice server refuses it."""

    name: str
    file: Path
    password: str
    expected_error: str
    explanation: str
    certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)


def _subject(label: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Practice gallery: {label}"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "udap-onboard practice client")])


def _other_uri(client_uri: str) -> str:
    """The classic near miss: the same URI with or without a trailing slash."""
    return client_uri[:-1] if client_uri.endswith("/") and len(client_uri) > 1 else client_uri + "/"


def _pkcs12(key, cert: x509.Certificate, chain: list[x509.Certificate], password: bytes) -> bytes:
    """Modern PKCS#12 (PBES2 AES-256, HMAC-SHA256) but only 10,000 rounds: the password is printed
    next to the file, so the user's 600,000-round setting would cost seconds and protect nothing."""
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(GALLERY_KDF_ROUNDS)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
                  .build(password))
    return pkcs12.serialize_key_and_certificates(b"practice gallery", key, cert, chain, encryption)


def _password() -> str:
    return "-".join(random.token_hex(2) for _ in range(3))


def write_gallery(ca, out_dir: str | Path, client_uri: str, *, now: datetime | None = None) -> list[GalleryItem]:
    """Seven PKCS#12 files (one shared RSA-2048 key) that the practice server refuses, plus README.txt."""
    if (not isinstance(client_uri, str) or not client_uri or not client_uri.isascii()
            or any(c.isspace() for c in client_uri)):
        raise SandboxError("gallery_client_uri_invalid", uri=str(client_uri))
    now = now or datetime.now(timezone.utc)
    out = ensure_private_dir(out_dir)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub, day, year = key.public_key(), timedelta(days=1), timedelta(days=365)

    def leaf(label: str, uris=(client_uri,), **kw) -> x509.Certificate:
        return ca.issue_leaf(pub, subject=_subject(label), san_uris=list(uris), now=now, **kw)

    outsider_key = ec.generate_private_key(ec.SECP256R1())
    outsider = build_certificate(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Untrusted Practice CA")]),
        public_key=outsider_key.public_key(), issuer=None, issuer_key=outsider_key,
        not_before=now - day, not_after=now + 10 * year, ca=True)
    untrusted = build_certificate(subject=_subject("untrusted-ca"), public_key=pub, issuer=outsider,
                                  issuer_key=outsider_key, not_before=now - day, not_after=now + year,
                                  sans=[x509.UniformResourceIdentifier(client_uri)])
    expired = leaf("expired", not_before=now - year - day, not_after=now - day)
    future = leaf("not-yet-valid", not_before=now + 4 * year, not_after=now + 5 * year)
    revoked = leaf("revoked")
    ca.revoke(revoked.serial_number, now=now)
    other = _other_uri(client_uri)
    dead_url = f"{ca.http_base}/crl/unavailable.crl"
    chain = [ca.intermediate_cert]
    specs = [
        ("expired", expired, chain, UNAPPROVED,
         f"Its validity ended on {expired.not_valid_after_utc:%Y-%m-%d}; expired certificates are not trusted."),
        ("not-yet-valid", future, chain, UNAPPROVED,
         f"Its validity only starts on {future.not_valid_before_utc:%Y-%m-%d}."),
        ("revoked", revoked, chain, UNAPPROVED,
         f"The practice CA revoked serial {revoked.serial_number:x}; its CRL lists it."),
        ("untrusted-ca", untrusted, [outsider], UNAPPROVED,
         "Issued by 'Untrusted Practice CA', which is not a trust anchor of the practice community."),
        ("no-san", leaf("no-san", uris=()), chain, INVALID,
         "It has no subjectAltName, so it cannot prove the client URI (the software statement's iss)."),
        ("different-san", leaf("different-san", uris=(other,)), chain, INVALID,
         f"Its SAN URI is '{other}', not '{client_uri}': a trailing slash makes it a different URI."),
        ("dead-crl", leaf("dead-crl", crl_url=dead_url), chain, UNAPPROVED,
         f"Its CRL distribution point {dead_url} cannot be fetched; a hard-fail server refuses it."),
    ]
    items = []
    for name, cert, cert_chain, error, explanation in specs:
        password = _password()
        path = out / f"{name}.p12"
        atomic_write(path, _pkcs12(key, cert, cert_chain, password.encode("ascii")))
        items.append(GalleryItem(name, path, password, error, explanation, cert))
    atomic_write(out / "README.txt", _readme(client_uri, items).encode("utf-8"))
    return items


def _readme(client_uri: str, items: list[GalleryItem]) -> str:
    lines = ["Practice certificate gallery (udap-onboard)", "",
             f"Every file holds a certificate for the client URI {client_uri} and the same practice key.",
             "Import one, register at the practice server, and read how it is refused.",
             "These are practice files: the passwords are shown here on purpose. Never use them elsewhere.", ""]
    for item in items:
        lines += [f"{item.file.name}", f"  password:        {item.password}",
                  f"  server answers:  {item.expected_error}", f"  why:             {item.explanation}", ""]
    return "\n".join(lines)
