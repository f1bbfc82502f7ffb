"""Software statements (IG §3.1): build the claims, lint them against the IG, sign them.

The lint is the client's own pre-flight check. It runs before anything is sent (errors block
sending) and again after a server refuses with an unhelpful answer, to say what is most likely
wrong. Findings are codes + structured detail; the wording lives in ``app/ui/feedback.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from cryptography import x509

from app.core import jose
from app.core.certs import first_difference, san_uris
from app.core.errors import StatementError

CLIENT_CREDENTIALS = "client_credentials"
AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
GRANTS = (CLIENT_CREDENTIALS, AUTHORIZATION_CODE)
MAX_LIFETIME = 300
MIN_JTI_BITS = 128
AUTH_METHOD = "private_key_jwt"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")
# JWT claims that are about the statement itself, not registration metadata.
JWT_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "nbf")
AC_ONLY = ("redirect_uris", "response_types", "logo_uri")


@dataclass
class StatementDetails:
    """What the user decided about the client; the same for every server it registers with."""

    client_uri: str
    client_name: str
    contacts: list[str]
    scope: str
    grant: str = CLIENT_CREDENTIALS
    redirect_uris: list[str] = field(default_factory=list)
    logo_uri: str | None = None
    refresh_token: bool = True
    extra_claims: dict[str, Any] = field(default_factory=dict)  # RFC 7591 extras: tos_uri, software_id ...


@dataclass
class Finding:
    """One lint result. ``severity`` "error" blocks sending; "warning" is shown only."""

    code: str
    severity: str
    field: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "field": self.field, "detail": dict(self.detail)}


@dataclass
class SignedStatement:
    """A signed software statement plus what went into it (for display and the audit trail)."""

    token: str
    alg: str
    header: dict[str, Any]
    claims: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {"header": dict(self.header), "claims": dict(self.claims)}


def whole_seconds(now: datetime) -> int:
    """NumericDate of ``now`` rounded down, so iat is never ahead of the real clock."""
    if now.tzinfo is None:
        raise StatementError("naive_time")
    return math.floor(now.timestamp())


def build_claims(details: StatementDetails, registration_endpoint: str, *, now: datetime | None = None,
                 jti: str | None = None, lifetime: int = MAX_LIFETIME) -> dict[str, Any]:
    """Claims of a registration (or modification) statement for one registration endpoint."""
    now = now or datetime.now(timezone.utc)
    if details.grant not in GRANTS:
        raise StatementError("unknown_grant", grant=details.grant, allowed=list(GRANTS))
    claims = _common_claims(details, registration_endpoint, now, jti, lifetime)
    if details.grant == CLIENT_CREDENTIALS:
        claims["grant_types"] = [CLIENT_CREDENTIALS]
        if details.logo_uri:
            claims["logo_uri"] = details.logo_uri
    else:
        claims["grant_types"] = [AUTHORIZATION_CODE] + ([REFRESH_TOKEN] if details.refresh_token else [])
        claims["response_types"] = ["code"]
        claims["redirect_uris"] = list(details.redirect_uris)
        if details.logo_uri is not None:
            claims["logo_uri"] = details.logo_uri
    return claims


def build_cancel_claims(details: StatementDetails, registration_endpoint: str, *, now: datetime | None = None,
                        jti: str | None = None, lifetime: int = MAX_LIFETIME) -> dict[str, Any]:
    """Cancellation (IG §3.4, ambiguity A6): every normally required claim + grant_types [], no AC claims."""
    now = now or datetime.now(timezone.utc)
    claims = _common_claims(details, registration_endpoint, now, jti, lifetime)
    claims["grant_types"] = []
    for name in AC_ONLY:
        claims.pop(name, None)
    return claims


def _common_claims(details, registration_endpoint, now, jti, lifetime) -> dict[str, Any]:
    iat = whole_seconds(now)
    claims: dict[str, Any] = {}
    for key, value in details.extra_claims.items():
        if key not in JWT_CLAIMS:
            claims[key] = value
    claims.update({
        "iss": details.client_uri, "sub": details.client_uri, "aud": registration_endpoint,
        "iat": iat, "exp": iat + lifetime, "jti": jti or jose.new_jti(),
        "client_name": details.client_name, "contacts": list(details.contacts),
        "token_endpoint_auth_method": AUTH_METHOD, "scope": details.scope,
    })
    return claims


# ---------------------------------------------------------------- lint

def lint(claims: dict[str, Any], *, now: datetime | None = None, registration_endpoint: str | None = None,
         scopes_supported: Sequence[str] | None = None, leaf: x509.Certificate | None = None,
         client_uri: str | None = None, header: dict[str, Any] | None = None,
         server_algs: Sequence[str] | None = None) -> list[Finding]:
    """Every IG §3.1 rule we can check locally. Checks needing a context run only when it is given."""
    now = now or datetime.now(timezone.utc)
    out: list[Finding] = []
    add = lambda code, fld, sev="error", **detail: out.append(Finding(code, sev, fld, detail))  # noqa: E731
    _lint_identity(claims, add, leaf, client_uri)
    _lint_audience(claims, add, registration_endpoint)
    _lint_times(claims, add, now)
    _lint_jti(claims, add)
    _lint_metadata(claims, add, scopes_supported)
    _lint_grants(claims, add)
    if header is not None:
        _lint_header(header, add, server_algs)
    return out


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def _lint_identity(claims, add, leaf, client_uri) -> None:
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or not iss:
        add("iss_missing", "iss")
        return
    if sub != iss:
        add("sub_not_iss", "sub", iss=iss, sub=sub)
    if client_uri is not None and iss != client_uri:
        add("iss_not_client_uri", "iss", expected=client_uri, actual=iss, position=first_difference(client_uri, iss))
    if leaf is not None:
        sans = san_uris(leaf)
        if iss not in sans:
            closest = max(sans, key=lambda s: first_difference(s, iss), default=None)
            add("iss_not_in_certificate", "iss", iss=iss, san_uris=sans, closest=closest,
                position=first_difference(closest, iss) if closest is not None else 0)


def _lint_audience(claims, add, registration_endpoint) -> None:
    aud = claims.get("aud")
    if aud is None or aud == "":
        add("aud_missing", "aud")
    elif not isinstance(aud, str):
        add("aud_not_string", "aud", aud=aud)
    elif registration_endpoint is not None and aud != registration_endpoint:
        add("aud_not_registration_endpoint", "aud", expected=registration_endpoint, actual=aud,
            position=first_difference(registration_endpoint, aud))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _lint_times(claims, add, now) -> None:
    iat, exp = claims.get("iat"), claims.get("exp")
    now_s = whole_seconds(now)
    if iat is None:
        add("iat_missing", "iat")
    elif not _is_int(iat):
        add("iat_not_whole_seconds", "iat", iat=iat)
    elif iat > now_s:
        add("iat_in_future", "iat", iat=iat, now=now_s, seconds=iat - now_s)
    if exp is None:
        add("exp_missing", "exp")
    elif not _is_int(exp):
        add("exp_not_whole_seconds", "exp", exp=exp)
    elif exp <= now_s:
        add("statement_expired", "exp", exp=exp, now=now_s)
    if _is_int(iat) and _is_int(exp):
        if exp <= iat:
            add("exp_not_after_iat", "exp", iat=iat, exp=exp)
        elif exp - iat > MAX_LIFETIME:
            add("lifetime_too_long", "exp", seconds=exp - iat, limit=MAX_LIFETIME)


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def jti_bits(jti: str) -> float:
    """Upper bound on the randomness of a jti, from its length and the alphabet it uses."""
    if _UUID.match(jti):
        return 122.0
    if re.fullmatch(r"[0-9]+", jti):
        per = math.log2(10)
    elif re.fullmatch(r"[0-9a-fA-F]+", jti):
        per = 4.0
    else:
        per = 6.0
    return len(jti) * per


def _lint_jti(claims, add) -> None:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        add("jti_missing", "jti")
        return
    bits = jti_bits(jti)
    if bits < MIN_JTI_BITS:
        add("jti_too_short", "jti", bits=int(bits), minimum=MIN_JTI_BITS)
    elif len(set(jti)) < 8:
        add("jti_not_random", "jti", distinct_characters=len(set(jti)))


def _lint_metadata(claims, add, scopes_supported) -> None:
    name = claims.get("client_name")
    if not isinstance(name, str) or not name.strip():
        add("client_name_missing", "client_name")
    method = claims.get("token_endpoint_auth_method")
    if method != AUTH_METHOD:
        add("auth_method_not_private_key_jwt", "token_endpoint_auth_method", actual=method, expected=AUTH_METHOD)
    contacts = claims.get("contacts")
    if not isinstance(contacts, list) or not contacts:
        add("contacts_missing", "contacts")
    else:
        if not any(isinstance(c, str) and _is_mailto(c) for c in contacts):
            add("contacts_no_mailto", "contacts", contacts=contacts)
        for index, c in enumerate(contacts):
            if not isinstance(c, str) or not urlsplit(c).scheme:
                add("contact_not_uri", "contacts", "warning", index=index, value=c)
    scope = claims.get("scope")
    if not isinstance(scope, str) or not scope.split():
        add("scope_missing", "scope")
    elif scopes_supported is not None:
        unsupported = [s for s in scope.split() if not scope_supported(s, scopes_supported)]
        if unsupported:
            add("scope_not_supported", "scope", unsupported=unsupported, supported=list(scopes_supported))


def _is_mailto(contact: str) -> bool:
    return contact.lower().startswith("mailto:") and "@" in contact[7:]


def scope_supported(scope: str, supported: Sequence[str]) -> bool:
    """Listed exactly, or covered by a listed SMART wildcard (``system/*.read`` covers ``system/Patient.read``)."""
    if scope in supported:
        return True
    for listed in supported:
        if "*" in listed:
            pattern = r"(?:[A-Za-z]+|\*)".join(re.escape(p) for p in listed.split("*"))
            if re.fullmatch(pattern, scope):
                return True
    return False


def _lint_grants(claims, add) -> None:
    grants = claims.get("grant_types")
    if not isinstance(grants, list):
        add("grant_types_missing", "grant_types", value=grants)
        return
    unknown = [g for g in grants if g not in (CLIENT_CREDENTIALS, AUTHORIZATION_CODE, REFRESH_TOKEN)]
    if unknown:
        add("grant_type_unknown", "grant_types", unknown=unknown)
    if len(set(grants)) != len(grants):
        add("grant_type_repeated", "grant_types", "warning", grant_types=grants)
    ac, cc = AUTHORIZATION_CODE in grants, CLIENT_CREDENTIALS in grants
    if grants == []:  # cancellation: AC-only claims must be absent, nothing else applies
        for name in AC_ONLY:
            if name in claims:
                add("cancel_has_" + name, name, "warning")
        return
    if ac and cc:
        add("grant_types_both", "grant_types", grant_types=grants)
    if not ac and not cc:
        add("grant_types_no_main_grant", "grant_types", grant_types=grants)
    if REFRESH_TOKEN in grants and not ac:
        add("refresh_token_without_authorization_code", "grant_types", grant_types=grants)
    redirects, responses, logo = claims.get("redirect_uris"), claims.get("response_types"), claims.get("logo_uri")
    if ac:
        if not isinstance(redirects, list) or not redirects:
            add("redirect_uris_missing", "redirect_uris")
        else:
            for index, uri in enumerate(redirects):
                if not _is_https(uri):
                    add("redirect_uri_not_https", "redirect_uris", index=index, value=uri)
        if responses != ["code"]:
            add("response_types_not_code", "response_types", value=responses)
        if logo is None:
            add("logo_uri_missing", "logo_uri")
    else:
        if redirects is not None:
            add("redirect_uris_not_allowed", "redirect_uris", grant_types=grants)
        if responses is not None:
            add("response_types_not_allowed", "response_types", grant_types=grants)
    if logo is not None:
        if not _is_https(logo):
            add("logo_uri_not_https", "logo_uri", value=logo)
        elif not urlsplit(logo).path.lower().endswith(IMAGE_SUFFIXES):
            add("logo_uri_not_image", "logo_uri", value=logo, allowed=list(IMAGE_SUFFIXES))


def _is_https(uri) -> bool:
    if not isinstance(uri, str):
        return False
    parts = urlsplit(uri)
    return parts.scheme == "https" and bool(parts.netloc)


def _lint_header(header, add, server_algs) -> None:
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        add("alg_missing", "alg")
    elif server_algs is not None and alg not in server_algs:
        add("alg_not_supported_by_server", "alg", alg=alg, supported=list(server_algs))
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        add("x5c_missing", "x5c")
        return
    try:
        certs = jose.parse_x5c(header)
    except Exception as exc:  # JwsError: the code says which entry is wrong
        add("x5c_unreadable", "x5c", reason=getattr(exc, "code", type(exc).__name__))
        return
    if len(certs) > 1 and _self_issued(certs[-1]):
        add("x5c_includes_root", "x5c", "warning", subject=certs[-1].subject.rfc4514_string())


# ---------------------------------------------------------------- signing

def _self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def x5c_chain(chain: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Leaf + intermediates: a trailing self-issued root is dropped (servers use their own anchors)."""
    certs = list(chain)
    while len(certs) > 1 and _self_issued(certs[-1]):
        certs.pop()
    return certs


def sign_statement(claims: dict[str, Any], key, chain: Sequence[x509.Certificate], *,
                   server_algs: Sequence[str] | None = None) -> SignedStatement:
    """Sign with the first algorithm both the key and the server's registration alg list allow."""
    alg = jose.choose_algorithm(key, server_algs)
    certs = x5c_chain(chain)
    token = jose.sign(claims, key, certs, alg=alg)
    return SignedStatement(token=token, alg=alg, header={"alg": alg, "x5c": jose.x5c_for(certs)}, claims=dict(claims))


def prepare_statement(claims: dict[str, Any], key, chain: Sequence[x509.Certificate], *,
                      registration_endpoint: str, now: datetime | None = None,
                      scopes_supported: Sequence[str] | None = None,
                      server_algs: Sequence[str] | None = None) -> SignedStatement:
    """Lint, then sign. Any error finding blocks: StatementError("lint_failed", findings=[...])."""
    now = now or datetime.now(timezone.utc)
    alg = jose.choose_algorithm(key, server_algs)
    certs = x5c_chain(chain)
    header = {"alg": alg, "x5c": jose.x5c_for(certs)}
    findings = lint(claims, now=now, registration_endpoint=registration_endpoint,
                    scopes_supported=scopes_supported, leaf=certs[0] if certs else None,
                    header=header, server_algs=server_algs)
    blocking = errors(findings)
    if blocking:
        raise StatementError("lint_failed", findings=[f.to_dict() for f in blocking],
                             codes=[f.code for f in blocking])
    signed = sign_statement(claims, key, certs, server_algs=server_algs)
    signed.findings = findings
    return signed


def decoded_view(token: str) -> dict[str, Any]:
    """Header and claims of a compact JWS for display; the signature is left out."""
    decoded = jose.decode(token)
    return {"header": decoded.header, "claims": decoded.claims}

