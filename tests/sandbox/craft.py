"""Client-side input crafted by hand for the sandbox tests.

Deliberately not app.core.statement / token: the server's rules must be tested against claims
built here from the IG tables, so a shared bug cannot pass both sides.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from app.core import jose

CLIENT_URI = "https://client.example.org/app"
REGISTRATION_URL = "https://127.0.0.1:9443/register"
TOKEN_URL = "https://127.0.0.1:9443/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
B2B = {"hl7-b2b": {"version": "1", "organization_id": "https://clinic.example.org",
                   "organization_name": "Example Clinic", "purpose_of_use": ["urn:oid:2.16.840.1.113883.5.8#TREAT"]}}


def make_csr(key, uris, cn: str = "Test Client") -> x509.CertificateSigningRequest:
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if uris:
        b = b.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
                            critical=False)
    return b.sign(key, hashes.SHA256())


def _apply(claims: dict, drop, changes: dict) -> dict:
    claims.update(changes)
    for name in drop:
        claims.pop(name, None)
    return claims


def statement(key, chain, *, now: datetime, iss: str = CLIENT_URI, aud: str = REGISTRATION_URL, alg=None,
              drop=(), **changes) -> str:
    t = int(now.timestamp())
    claims = {"iss": iss, "sub": iss, "aud": aud, "iat": t, "exp": t + 300, "jti": jose.new_jti(),
              "client_name": "Example Clinic B2B", "contacts": ["mailto:it@clinic.example.org"],
              "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
              "scope": "system/Patient.read system/Observation.read"}
    return jose.sign(_apply(claims, drop, changes), key, chain, alg=alg)


def register_body(software_statement, **extra) -> bytes:
    return json.dumps({"software_statement": software_statement, "udap": "1", **extra}).encode()


def assertion(key, chain, *, now: datetime, client_id: str, aud: str = TOKEN_URL, drop=(), **changes) -> str:
    t = int(now.timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": t, "exp": t + 300,
              "jti": jose.new_jti(), "extensions": B2B}
    return jose.sign(_apply(claims, drop, changes), key, chain)


def token_body(client_assertion, scope: str | None = "system/Patient.read", drop=(), **params) -> bytes:
    form = {"grant_type": "client_credentials", "scope": scope, "udap": "1",
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion}
    return urlencode(_apply(form, tuple(drop) + (() if scope is not None else ("scope",)), params)).encode()


def unsigned(header: dict, claims: dict) -> str:
    """A hand-made compact JWS with an empty signature (alg none and the like)."""
    part = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part(header)}.{part(claims)}."
