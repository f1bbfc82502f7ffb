"""What the claims of a client's request must say: registration metadata (IG §3.1) and the
hl7-b2b extension (IG §5.2.1.1), each refusal naming the claim and the IG error code.

Written from the server's side; never shared with the client's lint (app.core.statement).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from cryptography import x509

from app.sandbox.community import GRANT_TYPES_SUPPORTED

GRANTS = ("authorization_code", "refresh_token", "client_credentials")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")


class Refusal(Exception):
    """A protocol answer, not a failure of ours: status + OAuth ``error`` + ``error_description``."""

    def __init__(self, error: str | None, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _is_uri(value) -> bool:
    return isinstance(value, str) and bool(urlsplit(value).scheme) and not any(c.isspace() for c in value)


def check_san(cert: x509.Certificate, iss: str) -> None:
    """iss must be one of the URI subjectAltNames of x5c[0], byte for byte (IG §3.1, DCR §4.3)."""
    try:
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        raise Refusal("invalid_software_statement", "the certificate in x5c[0] has no subjectAltName; "
                                                    f"iss {iss!r} must be one of its URI entries") from None
    if iss not in uris:
        raise Refusal("invalid_software_statement", f"iss {iss!r} is not a subjectAltName URI of the "
                                                    f"certificate in x5c[0] (it has {uris})")


def check_grant_types(claims: dict) -> list[str]:
    """The grant_types combinations the IG allows (§3.1); [] means a cancellation."""
    meta = "invalid_client_metadata"
    grants = claims.get("grant_types")
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise Refusal(meta, "grant_types is missing or not an array of strings")
    for g in grants:
        if g not in GRANTS:
            raise Refusal(meta, f"grant type {g!r} is unknown")
    if "client_credentials" in grants and "authorization_code" in grants:
        raise Refusal(meta, "client_credentials and authorization_code cannot be registered together")
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise Refusal(meta, "refresh_token is only allowed with authorization_code")
    return grants


def check_client_metadata(claims: dict, grants: list[str]) -> None:
    """redirect_uris / response_types / logo_uri per grant, then contacts and scope (IG §3.1)."""
    meta = "invalid_client_metadata"
    redirects, logo = claims.get("redirect_uris"), claims.get("logo_uri")
    if "authorization_code" in grants:
        if not isinstance(redirects, list) or not redirects:
            raise Refusal("invalid_redirect_uri", "authorization_code needs at least one redirect URI")
        for uri in redirects:
            if not isinstance(uri, str) or urlsplit(uri).scheme != "https" or not urlsplit(uri).netloc:
                raise Refusal("invalid_redirect_uri", f"redirect URI {uri!r} is not an absolute https URL")
        if claims.get("response_types") != ["code"]:
            raise Refusal(meta, 'authorization_code needs response_types ["code"]')
        if logo is None:
            raise Refusal(meta, "authorization_code needs a logo_uri")
    else:
        if "redirect_uris" in claims:
            raise Refusal("invalid_redirect_uri", "redirect_uris must be absent for client_credentials")
        if "response_types" in claims:
            raise Refusal(meta, "response_types must be absent for client_credentials")
    if logo is not None and (not isinstance(logo, str) or urlsplit(logo).scheme != "https"
                             or not urlsplit(logo).path.lower().endswith(IMAGE_SUFFIXES)):
        raise Refusal(meta, f"logo_uri {logo!r} must be an https URL of a PNG, JPG or GIF file")
    for g in grants:
        if g not in GRANT_TYPES_SUPPORTED:
            raise Refusal(meta, f"grant type {g} is not supported by this server "
                                f"(supported: {', '.join(GRANT_TYPES_SUPPORTED)})")
    contacts = claims.get("contacts")
    if not isinstance(contacts, list) or not any(isinstance(c, str) and c.startswith("mailto:") for c in contacts):
        raise Refusal(meta, "contacts must be an array with at least one mailto: address")
    if not isinstance(claims.get("scope"), str) or not claims["scope"].strip():
        raise Refusal(meta, "scope is missing from the software statement")


def check_b2b(extensions) -> None:
    """The hl7-b2b authorization extension object required on client_credentials (IG §5.2.1.1)."""
    grant = "invalid_grant"
    if extensions is None:
        raise Refusal(grant, "extensions with hl7-b2b are required for client_credentials")
    if not isinstance(extensions, dict):
        raise Refusal(grant, f"extensions must be a JSON object, not a {type(extensions).__name__}")
    b2b = extensions.get("hl7-b2b")
    if not isinstance(b2b, dict):
        raise Refusal(grant, "extensions has no hl7-b2b object")
    if b2b.get("version") != "1":
        raise Refusal(grant, f'hl7-b2b version must be "1", not {json.dumps(b2b.get("version"))}')
    if not _is_uri(b2b.get("organization_id")):
        raise Refusal(grant, "hl7-b2b organization_id must be a URI")
    pou = b2b.get("purpose_of_use")
    if not isinstance(pou, list) or not pou or not all(isinstance(p, str) and p.strip() for p in pou):
        raise Refusal(grant, "hl7-b2b purpose_of_use must be a non-empty array of codes")
