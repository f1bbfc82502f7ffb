"""A minimal third-party UDAP client, written from the IG tables alone (udap-requirements.md).

It plays someone else's software: httpx, joserfc and cryptography only, never app.core, so a
misreading shared by our client and our server cannot pass here. Section numbers are those of
udap-requirements.md (D-V* discovery, §3 statement, §4 registration, §5-6 token and hl7-b2b).
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
B2B = {"version": "1", "subject_name": "Nightly results import", "organization_name": "Third Party Clinic",
       "organization_id": "https://third-party.example.org", "purpose_of_use": ["urn:oid:2.16.840.1.113883.5.8#TREAT"]}


class Untrusted(Exception):
    """The server's metadata failed a D-V check: the client SHALL NOT proceed (IG §2.3)."""


def registry(alg: str) -> jws.JWSRegistry:
    """joserfc caps the protected header at 512 bytes by default; an x5c chain is several KB."""
    reg = jws.JWSRegistry(algorithms=[alg])
    reg.max_header_length = 64 * 1024
    return reg


def now() -> int:
    return int(datetime.now(timezone.utc).timestamp())


# --- PKI a relying party does by itself: AIA, CRL DP, path ------------------------------------

def _uris(cert: x509.Certificate, kind: str) -> list[str]:
    if kind == "aia":
        ext = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        names = [d.access_location for d in ext if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
    else:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        names = [n for dp in ext for n in dp.full_name or ()]
    return [n.value for n in names if isinstance(n, x509.UniformResourceIdentifier)]


def aia_url(cert: x509.Certificate) -> str:
    return _uris(cert, "aia")[0]


def crl_url(cert: x509.Certificate) -> str:
    return _uris(cert, "crl")[0]


def fetch_issuer(plain: httpx.Client, cert: x509.Certificate) -> x509.Certificate:
    """The issuer named by caIssuers (RFC 5280 §4.2.2.1: a DER certificate over http)."""
    response = plain.get(aia_url(cert))
    response.raise_for_status()
    return x509.load_der_x509_certificate(response.content)


def fetch_crl(plain: httpx.Client, cert: x509.Certificate) -> x509.CertificateRevocationList:
    response = plain.get(crl_url(cert))
    response.raise_for_status()
    return x509.load_der_x509_crl(response.content)


def revoked(plain: httpx.Client, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Hard-fail CRL check: the CRL must be the issuer's, signed by it, and current."""
    crl = fetch_crl(plain, cert)
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
        raise Untrusted(f"CRL at {crl_url(cert)} is not signed by {issuer.subject.rfc4514_string()}")
    if crl.next_update_utc is None or crl.next_update_utc < datetime.now(timezone.utc):
        raise Untrusted(f"CRL at {crl_url(cert)} is stale")
    return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def verify_path(plain: httpx.Client, leaf: x509.Certificate, intermediates: list[x509.Certificate],
                anchor: x509.Certificate):
    """cryptography's own RFC 5280 path builder (default web-PKI policies), then CRLs below the anchor."""
    verifier = PolicyBuilder().store(Store([anchor])).time(datetime.now(timezone.utc)).build_client_verifier()
    try:
        verified = verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        raise Untrusted(f"no path to the anchor: {exc}") from None
    for cert, issuer in zip(verified.chain, verified.chain[1:]):
        if revoked(plain, cert, issuer):
            raise Untrusted(f"{cert.subject.rfc4514_string()} is revoked")
    return verified


def x5c(chain: list[x509.Certificate]) -> list[str]:
    """RFC 7515 §4.1.6: standard base64 (not base64url) of each DER, leaf first."""
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in chain]


def csr_for(key, client_uri: str) -> x509.CertificateSigningRequest:
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Third Party Clinic B2B"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Third Party Clinic")]))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(client_uri)]), critical=False)
            .sign(key, hashes.SHA256()))


# --- the client ---------------------------------------------------------------------------------

@dataclass
class ThirdPartyClient:
    """One client app (key + certificate chain + client URI) of the community, talking to one server."""

    base_url: str
    community_uri: str
    anchor: x509.Certificate
    tls_anchor_pem: str
    key: object
    chain: list[x509.Certificate]
    client_uri: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.http = httpx.Client(verify=ssl.create_default_context(cadata=self.tls_anchor_pem), timeout=10,
                                 follow_redirects=False)
        self.plain = httpx.Client(timeout=10, follow_redirects=False)

    def close(self) -> None:
        self.http.close()
        self.plain.close()

    @property
    def jwk(self):
        return RSAKey.import_key(self.key) if isinstance(self.key, rsa.RSAPrivateKey) else ECKey.import_key(self.key)

    def alg(self, supported: list[str]) -> str:
        """K3: the first of our key's algorithms that the server lists."""
        mine = ["RS256"] if isinstance(self.key, rsa.RSAPrivateKey) else (
            ["ES256"] if isinstance(self.key.curve, ec.SECP256R1) else ["ES384"])
        return next(a for a in mine if a in supported)

    # D1-D-V10
    def discover(self) -> dict:
        response = self.http.get(f"{self.base_url}/.well-known/udap", params={"community": self.community_uri},
                                 headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise Untrusted(f"discovery answered {response.status_code}")
        meta = response.json()
        if "1" not in meta["udap_versions_supported"]:
            raise Untrusted("udap version 1 not supported")
        if not {"udap_dcr", "udap_authn", "udap_authz"} <= set(meta["udap_profiles_supported"]):
            raise Untrusted("profiles")
        if "private_key_jwt" not in meta["token_endpoint_auth_methods_supported"]:
            raise Untrusted("auth method")
        if not set(meta.get("udap_authorization_extensions_required", [])) <= {"hl7-b2b"}:
            raise Untrusted("an authorization extension we cannot produce is required")
        token = meta["signed_metadata"]
        header = jws.extract_compact(token.encode(), registry=registry("RS256")).headers()
        if header.get("alg") != "RS256":  # D-V3
            raise Untrusted(f"signed_metadata alg {header.get('alg')}")
        certs = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in header["x5c"]]
        signed = jws.deserialize_compact(token, RSAKey.import_key(certs[0].public_key()), registry=registry("RS256"))
        verified = verify_path(self.plain, certs[0], certs[1:], self.anchor)  # D-V5 (never an anchor from x5c)
        claims = json.loads(signed.payload)
        sans = [n.value for n in verified.subjects or () if isinstance(n, x509.UniformResourceIdentifier)]
        if not (claims["iss"] == claims["sub"] == self.base_url and claims["iss"] in sans):  # D-V7
            raise Untrusted("iss")
        t = now()
        if not (isinstance(claims["exp"], int) and claims["exp"] > t and claims["iat"] <= t + 60
                and claims["exp"] - claims["iat"] <= 366 * 86400 and claims["jti"]):  # D-V6
            raise Untrusted("times")
        for name in ("token_endpoint", "registration_endpoint"):  # D-V8: signed values win, must agree
            if meta.get(name) != claims[name]:
                raise Untrusted(name)
            meta[name] = claims[name]
        self.meta = meta
        return meta

    # §3
    def statement(self, *, header: dict | None = None, signer=None, drop=(), **changes) -> str:
        t = now()
        claims = {"iss": self.client_uri, "sub": self.client_uri, "aud": self.meta["registration_endpoint"],
                  "iat": t, "exp": t + 300, "jti": secrets.token_urlsafe(32), "client_name": "Third Party Clinic B2B",
                  "contacts": ["mailto:ops@third-party.example.org"], "grant_types": ["client_credentials"],
                  "token_endpoint_auth_method": "private_key_jwt", "scope": "system/Patient.read system/Observation.read"}
        claims.update(changes)
        for name in drop:
            claims.pop(name)
        alg = self.alg(self.meta["registration_endpoint_jwt_signing_alg_values_supported"])
        key = RSAKey.import_key(signer) if signer is not None else self.jwk
        return jwt.encode({"alg": alg, "x5c": x5c(self.chain), **(header or {})}, claims, key, registry=registry(alg))

    # §4.1
    def register(self, software_statement: str, *, content_type: str = "application/json", **body) -> httpx.Response:
        payload = {"software_statement": software_statement, "udap": "1", **body}
        return self.http.post(self.meta["registration_endpoint"], content=json.dumps(payload).encode(),
                              headers={"Content-Type": content_type, "Accept": "application/json"})

    # §5.1, §6
    def assertion(self, client_id: str, *, header: dict | None = None, drop=(), **changes) -> str:
        t = now()
        claims = {"iss": client_id, "sub": client_id, "aud": self.meta["token_endpoint"], "iat": t, "exp": t + 300,
                  "jti": secrets.token_urlsafe(32), "extensions": {"hl7-b2b": dict(B2B)}}
        claims.update(changes)
        for name in drop:
            claims.pop(name)
        alg = self.alg(self.meta["token_endpoint_auth_signing_alg_values_supported"])
        return jwt.encode({"alg": alg, "x5c": x5c(self.chain), **(header or {})}, claims, self.jwk, registry=registry(alg))

    # §5.2
    def token(self, client_assertion: str, *, scope: str | None = "system/Patient.read", drop=(),
              **params) -> httpx.Response:
        form = {"grant_type": "client_credentials", "scope": scope, "udap": "1",
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion, **params}
        for name in drop:
            form.pop(name)
        return self.http.post(self.meta["token_endpoint"], data={k: v for k, v in form.items() if v is not None},
                              headers={"Accept": "application/json"})

    def read(self, resource: str, access_token: str) -> httpx.Response:
        return self.http.get(f"{self.base_url}/{resource}", headers={"Authorization": f"Bearer {access_token}",
                                                                      "Accept": "application/fhir+json"})
