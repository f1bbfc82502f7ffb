"""Registration and token validation, written from the server's side of the spec.

Deliberately independent of the client (no app.core.statement / registration / token / trust):
if both sides shared a rule, a bug in it would pass every test. Checks run in the order strict
real servers use (field-notes.md), the first failure wins, and every refusal names the claim.
Real-world quirks are switched on per instance with ``modes`` (see MODES). This module holds the
order and the state (registrations, replay caches, tokens); the certificate path and CRL checks
are in chain.py, what each claim must contain in claims.py.
"""

from __future__ import annotations

import base64
import json
import secrets as random
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Sequence
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.core import jose
from app.core.errors import JwsError
from app.sandbox.chain import ChainFailure, Fetcher, check_chain
from app.sandbox.claims import Refusal, check_b2b, check_client_metadata, check_grant_types, check_san
from app.sandbox.community import COMMUNITY_URI, SCOPES_SUPPORTED, SIGNING_ALGS

__all__ = ["MODES", "AccessGrant", "Answer", "ChainFailure", "PracticeRules", "Refusal", "Registration",
           "ReplayCache", "check_chain"]

MODES = frozenset({"aia-only", "narrow-scopes", "bare-500", "rsa-only", "strict-clock", "echo-all"})
IAT_LEEWAY = 5
MAX_LIFETIME = 300
ACCESS_TOKEN_LIFETIME = 300
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti")


@dataclass
class Answer:
    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Registration:
    client_id: str
    iss: str
    community: str
    certificate: str  # base64 DER of x5c[0]: the token assertion must come with this very certificate
    grant_types: list[str]
    scopes: list[str]
    client_name: str
    registered_at: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AccessGrant:
    client_id: str
    scopes: tuple[str, ...]
    expires_at: datetime


class ReplayCache:
    """jti values per issuer, each forgotten once its JWT's exp has passed (IG §7.1.4)."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, int]] = {}

    def add(self, iss: str, jti: str, exp: int, now: int) -> bool:
        """Record ``jti``; False when it is a replay."""
        for entries in self._seen.values():
            for old in [j for j, e in entries.items() if e < now]:
                del entries[old]
        entries = self._seen.setdefault(iss, {})
        if jti in entries:
            return False
        entries[jti] = exp
        return True


# --- JWT helpers -------------------------------------------------------------------------------

def _jws_text(exc: JwsError) -> str:
    f = exc.fields
    return {"malformed": f"not a compact JWS (bad {f.get('part', 'structure')})",
            "too_large": "too large",
            "payload_not_object": "its payload is not a JSON object",
            "x5c_missing": "its x5c header is empty",
            "x5c_base64url": f"x5c[{f.get('index')}] is base64url; x5c needs standard base64",
            "x5c_not_base64": f"x5c[{f.get('index')}] is not base64",
            "x5c_bad_certificate": f"x5c[{f.get('index')}] is not a DER certificate",
            "alg_missing": "its alg header is missing",
            "alg_forbidden": f"alg {f.get('alg')} is never accepted",
            "alg_not_allowed": f"alg {f.get('alg')} is not one of {', '.join(SIGNING_ALGS)}",
            "algorithm_does_not_fit_key": f"alg {f.get('alg')} does not fit the key of x5c[0]",
            "bad_signature": "its signature does not verify with the public key of x5c[0]",
            }.get(exc.code, exc.code.replace("_", " "))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _scope_allowed(scope: str, granted: Iterable[str]) -> bool:
    """Exact, or covered by a granted wildcard such as system/*.read."""
    granted = set(granted)
    if scope in granted:
        return True
    context, _, rest = scope.partition("/")
    _, dot, permission = rest.rpartition(".")
    return bool(dot) and f"{context}/*.{permission}" in granted


class PracticeRules:
    """The practice server's registrar and token issuer; one instance per running server."""

    def __init__(self, *, anchors: Sequence[x509.Certificate], registration_url: str, token_url: str,
                 fetch: Fetcher, modes: Iterable[str] = (), community_uri: str = COMMUNITY_URI,
                 scopes_supported: Sequence[str] = SCOPES_SUPPORTED, registrations: Iterable[Registration] = (),
                 on_change: Callable[[list[Registration]], None] | None = None) -> None:
        self.modes = frozenset(modes)
        unknown = self.modes - MODES
        if unknown:
            raise ValueError(f"unknown modes: {sorted(unknown)}")
        self.anchors, self.fetch = list(anchors), fetch
        self.registration_url, self.token_url = registration_url, token_url
        self.community_uri, self.scopes_supported = community_uri, list(scopes_supported)
        self.registrations = {(r.iss, r.community): r for r in registrations}
        self.tokens: dict[str, AccessGrant] = {}
        self._statement_jtis, self._assertion_jtis = ReplayCache(), ReplayCache()
        self._on_change = on_change
        self._lock = threading.Lock()

    # --- shared steps ------------------------------------------------------------------------

    def _answer(self, step: Callable[[], Answer]) -> Answer:
        with self._lock:
            try:
                return step()
            except Refusal as r:
                if "bare-500" in self.modes or r.status == 500:
                    return Answer(500, None)
                return Answer(r.status, {"error": r.error, "error_description": r.description},
                              {"Cache-Control": "no-store"})

    def _signed(self, token, what: str, error: str) -> jose.DecodedJws:
        if not isinstance(token, str) or not token:
            raise Refusal(error, f"{what} is missing")
        try:
            decoded = jose.decode(token)
        except JwsError as exc:
            raise Refusal(error, f"{what}: {_jws_text(exc)}") from None
        if not decoded.certificates:
            raise Refusal(error, f"{what} has no x5c header")
        if "rsa-only" in self.modes and (str(decoded.alg).startswith("ES") or isinstance(
                decoded.certificates[0].public_key(), ec.EllipticCurvePublicKey)):
            raise Refusal(None, "EC keys are not supported", status=500)  # as RSA-only servers crash
        try:
            return jose.verify(decoded, SIGNING_ALGS)
        except JwsError as exc:
            raise Refusal(error, f"{what}: {_jws_text(exc)}") from None

    def _expiry(self, claims: dict, what: str, error: str, now: float) -> int:
        exp = claims.get("exp")
        if not _is_int(exp):
            raise Refusal(error, f"{what}: exp is missing or not an integer")
        if exp <= now:
            raise Refusal(error, f"{what} expired at {_iso(exp)} (server time {_iso(now)})")
        return exp

    def _replay(self, cache: ReplayCache, claims: dict, exp: int, what: str, error: str, now: float) -> None:
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise Refusal(error, f"{what}: jti is missing")
        if not cache.add(str(claims.get("iss")), jti, exp, int(now)):
            raise Refusal(error, f"{what}: jti {jti!r} was already used by this iss (replay)")

    def _issued_at(self, claims: dict, exp: int, what: str, error: str, now: float) -> None:
        iat = claims.get("iat")
        if not _is_int(iat):
            raise Refusal(error, f"{what}: iat is missing or not an integer")
        if "strict-clock" in self.modes and iat >= int(now):
            raise Refusal(error, f"{what}: iat {iat} is not before the server's clock ({int(now)}); "
                                 "this server needs iat strictly in the past")
        if iat > now + IAT_LEEWAY:
            raise Refusal(error, f"{what}: iat is {iat - int(now)} s in the future (server time {_iso(now)})")
        if exp - iat > MAX_LIFETIME:
            raise Refusal(error, f"{what}: exp is {exp - iat} s after iat; at most {MAX_LIFETIME} s are allowed")

    def _chain(self, decoded: jose.DecodedJws, error: str, now: datetime) -> None:
        try:
            check_chain(decoded.certificates[0], decoded.certificates[1:], self.anchors, now=now,
                        fetch=self.fetch, aia_only="aia-only" in self.modes)
        except ChainFailure as exc:
            raise Refusal(error, f"certificate not trusted: {exc}") from None

    def _changed(self) -> None:
        if self._on_change:
            self._on_change(list(self.registrations.values()))

    def _narrow(self, requested: list[str], allowed: Callable[[str], bool]) -> list[str]:
        granted = [s for i, s in enumerate(requested) if allowed(s) and s not in requested[:i]]
        return granted[:1] if "narrow-scopes" in self.modes else granted

    # --- registration (IG §3; DCR §4-6) --------------------------------------------------------

    def register(self, content_type: str | None, body: bytes, *, now: datetime) -> Answer:
        """POST /register: 201 new, 200 modified, 200 cancelled, else 400 (415 for non-JSON)."""
        return self._answer(lambda: self._register(content_type, body, now))

    def _register(self, content_type: str | None, body: bytes, now_dt: datetime) -> Answer:
        bad, meta, now = "invalid_software_statement", "invalid_client_metadata", now_dt.timestamp()
        if _media_type(content_type) != "application/json":
            raise Refusal("invalid_request", f"Content-Type must be application/json, not {content_type!r}", 415)
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            request = None
        if not isinstance(request, dict):
            raise Refusal(meta, "the request body is not a JSON object")
        if "udap" not in request:
            raise Refusal(meta, 'the udap parameter is missing; send "udap": "1"')
        if request["udap"] != "1":
            raise Refusal(meta, f'udap must be the string "1", not {json.dumps(request["udap"])}')
        statement = request.get("software_statement")
        decoded = self._signed(statement, "software_statement", bad)
        claims, what = decoded.claims, "software_statement"
        exp = self._expiry(claims, what, bad, now)
        self._replay(self._statement_jtis, claims, exp, what, bad, now)
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise Refusal(bad, "software_statement: iss is missing")
        if claims.get("sub") != iss:
            raise Refusal(bad, f"software_statement: sub {claims.get('sub')!r} must equal iss {iss!r}")
        if claims.get("aud") != self.registration_url:
            raise Refusal(bad, f"software_statement: aud must be the registration endpoint "
                               f"{self.registration_url!r}, not {claims.get('aud')!r}")
        self._issued_at(claims, exp, what, bad, now)
        for claim in ("client_name", "token_endpoint_auth_method"):
            if not isinstance(claims.get(claim), str) or not claims[claim].strip():
                raise Refusal(meta, f"{claim} is missing from the software statement")
        if claims["token_endpoint_auth_method"] != "private_key_jwt":
            raise Refusal(meta, f"token_endpoint_auth_method must be private_key_jwt, "
                                f"not {claims['token_endpoint_auth_method']!r}")
        self._chain(decoded, "unapproved_software_statement", now_dt)
        check_san(decoded.certificates[0], iss)
        grants = check_grant_types(claims)
        key = (iss, self.community_uri)
        if not grants:
            return self._cancel(key, statement, claims)
        check_client_metadata(claims, grants)
        granted = self._narrow(str(claims["scope"]).split(), lambda s: s in self.scopes_supported)
        if not granted:
            raise Refusal(meta, f"none of the requested scopes {claims['scope']!r} is supported; "
                                f"supported: {' '.join(self.scopes_supported)}")
        old = self.registrations.get(key)
        der = decoded.certificates[0].public_bytes(serialization.Encoding.DER)
        reg = Registration(client_id=old.client_id if old else random.token_urlsafe(16), iss=iss,
                           community=self.community_uri, certificate=base64.b64encode(der).decode("ascii"),
                           grant_types=grants, scopes=granted, client_name=claims["client_name"],
                           registered_at=now_dt.isoformat())
        self.registrations[key] = reg
        self._changed()
        echoed = {k: v for k, v in claims.items() if "echo-all" in self.modes or k not in JWT_CLAIMS}
        body = {"client_id": reg.client_id, **echoed, "scope": " ".join(granted), "software_statement": statement}
        return Answer(200 if old else 201, body, {"Cache-Control": "no-store"})

    def _cancel(self, key: tuple[str, str], statement: str, claims: dict) -> Answer:
        old = self.registrations.pop(key, None)
        if old is None:
            raise Refusal("invalid_client_metadata", f"nothing to cancel: {key[0]!r} is not registered in "
                                                     f"community {key[1]}")
        self._changed()
        self.tokens = {t: g for t, g in self.tokens.items() if g.client_id != old.client_id}
        return Answer(200, {"client_id": old.client_id, "client_name": claims["client_name"], "grant_types": [],
                            "software_statement": statement}, {"Cache-Control": "no-store"})

    # --- token (IG §5.2; JCA; hl7-b2b) ---------------------------------------------------------

    def token(self, content_type: str | None, body: bytes, *, now: datetime) -> Answer:
        """POST /token with client_credentials: 200 with a 5-minute opaque bearer token, else 400."""
        return self._answer(lambda: self._token(content_type, body, now))

    def _token(self, content_type: str | None, body: bytes, now_dt: datetime) -> Answer:
        client, now, what = "invalid_client", now_dt.timestamp(), "client_assertion"
        if _media_type(content_type) != "application/x-www-form-urlencoded":
            raise Refusal("invalid_request", "Content-Type must be application/x-www-form-urlencoded, "
                                             f"not {content_type!r}", 415)
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (ValueError, UnicodeDecodeError):
            raise Refusal("invalid_request", "the body is not form-urlencoded") from None
        for name, values in fields.items():
            if len(values) > 1:
                raise Refusal("invalid_request", f"parameter {name} is repeated")
        form = {k: v[0] for k, v in fields.items()}
        if "grant_type" not in form:
            raise Refusal("invalid_request", "grant_type is missing")
        if form["grant_type"] != "client_credentials":
            raise Refusal("unsupported_grant_type", f"grant_type {form['grant_type']!r} is not supported; "
                                                    "use client_credentials")
        if form.get("udap") != "1":
            raise Refusal("invalid_request", "udap=1 is missing")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise Refusal("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        decoded = self._signed(form.get("client_assertion"), what, client)
        claims = decoded.claims
        exp = self._expiry(claims, what, client, now)
        self._issued_at(claims, exp, what, client, now)
        self._replay(self._assertion_jtis, claims, exp, what, client, now)
        iss = claims.get("iss")
        if not isinstance(iss, str) or claims.get("sub") != iss:
            raise Refusal(client, "client_assertion: iss and sub must both be the client_id")
        reg = next((r for r in self.registrations.values() if r.client_id == iss), None)
        if reg is None:
            raise Refusal(client, f"client_id {iss!r} is unknown or its registration was cancelled")
        if "client_id" in form and form["client_id"] != iss:
            raise Refusal(client, "the client_id parameter differs from the assertion's iss")
        if claims.get("aud") != self.token_url:
            raise Refusal(client, f"client_assertion: aud must be the token endpoint {self.token_url!r}, "
                                  f"not {claims.get('aud')!r}")
        self._chain(decoded, client, now_dt)
        if base64.b64decode(reg.certificate) != decoded.certificates[0].public_bytes(serialization.Encoding.DER):
            raise Refusal(client, "x5c[0] is not the certificate this client registered with; register again "
                                  "(a modification) with the new certificate")
        if not form.get("scope", "").strip():
            raise Refusal("invalid_request", "scope is missing")
        check_b2b(claims.get("extensions"))
        granted = self._narrow(form["scope"].split(), lambda s: _scope_allowed(s, reg.scopes))
        if not granted:
            raise Refusal("invalid_scope", f"none of the requested scopes {form['scope']!r} was granted to this "
                                           f"client (registered: {' '.join(reg.scopes)})")
        token = random.token_urlsafe(32)
        self.tokens = {t: g for t, g in self.tokens.items() if g.expires_at > now_dt}
        self.tokens[token] = AccessGrant(reg.client_id, tuple(granted),
                                         now_dt + timedelta(seconds=ACCESS_TOKEN_LIFETIME))
        return Answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_LIFETIME,
                            "scope": " ".join(granted)}, {"Cache-Control": "no-store", "Pragma": "no-cache"})


    def authorize(self, authorization: str | None, resource: str | None, *, now: datetime) -> AccessGrant:
        """The grant behind ``Authorization: Bearer``; 401 invalid_token / 403 insufficient_scope."""
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            grant = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or grant.expires_at <= now:
            raise Refusal("invalid_token", "a valid bearer access token is required", 401)
        if resource and not any(_scope_allowed(f"system/{resource}.read", [s]) for s in grant.scopes):
            raise Refusal("insufficient_scope", f"the token's scopes do not cover reading {resource}", 403)
        return grant
