"""client_credentials with a signed JWT assertion and hl7-b2b (IG §5.2), then one FHIR call.

The access token lives only in memory: ``TokenResult.to_dict()`` (what the UI, the CLI and any
record see) carries a redacted form, and the audit trail is told to scrub the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode, urljoin, urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from app.core import http, jose, jsonlimits, statement
from app.core.errors import InputError, TokenError
from app.core.redact import redact_text

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TREATMENT = "urn:oid:2.16.840.1.113883.5.8#TREAT"
MAX_LIFETIME = 300
MAX_TOKEN_SECONDS = 3600  # IG §5.2.3: access tokens live at most 60 minutes
KNOWN_ERRORS = ("invalid_client", "invalid_request", "invalid_grant", "invalid_scope", "unauthorized_client",
                "unsupported_grant_type")
FHIR_ACCEPT = "application/fhir+json, application/json;q=0.9"
EXCERPT_CHARS = 300
NO_ENDPOINT = (404, 405, 410)  # without an OAuth error member: no such service at this address


@dataclass
class B2BExtension:
    """The hl7-b2b authorization extension object (IG §5.2.1.1)."""

    organization_id: str
    organization_name: str | None = None
    purpose_of_use: list[str] = field(default_factory=lambda: [TREATMENT])
    subject_name: str | None = None
    subject_id: str | None = None
    subject_role: str | None = None
    consent_policy: list[str] = field(default_factory=list)
    consent_reference: list[str] = field(default_factory=list)

    def to_object(self) -> dict[str, Any]:
        if not isinstance(self.organization_id, str) or not urlsplit(self.organization_id.strip()).scheme:
            raise InputError("organization_id_not_uri", value=self.organization_id)
        purposes = [p for p in (self.purpose_of_use or []) if isinstance(p, str) and p.strip()]
        if not purposes:
            raise InputError("purpose_of_use_empty")
        if self.consent_reference and not self.consent_policy:
            raise InputError("consent_reference_without_policy")
        obj: dict[str, Any] = {"version": "1", "organization_id": self.organization_id.strip()}
        for name in ("organization_name", "subject_name", "subject_id", "subject_role"):
            value = getattr(self, name)
            if isinstance(value, str) and value.strip():
                obj[name] = value.strip()
        obj["purpose_of_use"] = purposes
        if self.consent_policy:
            obj["consent_policy"] = list(self.consent_policy)
        if self.consent_reference:
            obj["consent_reference"] = list(self.consent_reference)
        return obj


@dataclass
class TokenResult:
    """A token the server issued. The token itself never leaves memory through ``to_dict``."""

    access_token: str = field(repr=False)
    token_type: str | None
    expires_in: int | None
    requested_scope: str
    granted_scope: str | None
    scope_added: list[str]
    scope_removed: list[str]
    http_status: int
    alg: str
    obtained_at: str
    warnings: list[statement.Finding] = field(default_factory=list)
    assertion_view: dict[str, Any] = field(default_factory=dict)
    refresh_token: str | None = field(default=None, repr=False)

    @property
    def redacted_token(self) -> str:
        return redact_token(self.access_token)

    def to_dict(self) -> dict[str, Any]:
        return {"access_token": self.redacted_token, "token_type": self.token_type, "expires_in": self.expires_in,
                "requested_scope": self.requested_scope, "granted_scope": self.granted_scope,
                "scope_added": list(self.scope_added), "scope_removed": list(self.scope_removed),
                "http_status": self.http_status, "alg": self.alg, "obtained_at": self.obtained_at,
                "refresh_token": redact_token(self.refresh_token) if self.refresh_token else None,
                "warnings": [w.to_dict() for w in self.warnings], "assertion": self.assertion_view}


@dataclass
class FhirResult:
    """What one FHIR call with the token returned, summarized for a person."""

    url: str
    status: int
    content_type: str
    resource_type: str | None
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "content_type": self.content_type,
                "resource_type": self.resource_type, "summary": self.summary, "ok": self.ok}


def redact_token(token: str | None) -> str:
    """First 6 characters and the length: enough to tell tokens apart, useless to replay."""
    if not token:
        return ""
    return f"{token[:6]}…({len(token)} chars)"


# ---------------------------------------------------------------- the assertion

def build_assertion_claims(client_id: str, token_endpoint: str, *, b2b: B2BExtension | None,
                           now: datetime | None = None, lifetime: int = MAX_LIFETIME, jti: str | None = None,
                           extra_extensions: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """AnT claims (IG §5.2.1): iss = sub = client_id, aud = the token endpoint exactly as published."""
    now = now or datetime.now(timezone.utc)
    iat = statement.whole_seconds(now)
    claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": token_endpoint, "iat": iat,
                              "exp": iat + max(1, min(lifetime, MAX_LIFETIME)), "jti": jti or jose.new_jti()}
    extensions: dict[str, Any] = dict(extra_extensions or {})
    if b2b is not None:
        extensions["hl7-b2b"] = b2b.to_object()
    if extensions:
        claims["extensions"] = extensions  # a JSON object, never a JSON-encoded string
    return claims


def token_form(scope: str, assertion: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "scope": scope, "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion, "udap": "1"}


def request_token(token_endpoint: str, *, client_id: str, key, chain: Sequence, scope: str,
                  b2b: B2BExtension, policy: http.HttpPolicy, server_algs: Sequence[str] | None = None,
                  now: datetime | None = None, client=None,
                  extra_extensions: Mapping[str, Any] | None = None) -> TokenResult:
    """client_credentials at ``token_endpoint``; raises TokenError with the server's error explained."""
    now = now or datetime.now(timezone.utc)
    if not isinstance(scope, str) or not scope.split():
        raise InputError("token_scope_missing")
    if not client_id:
        raise InputError("client_id_missing")
    alg = jose.choose_algorithm(key, server_algs)
    claims = build_assertion_claims(client_id, token_endpoint, b2b=b2b, now=now, extra_extensions=extra_extensions)
    certs = statement.x5c_chain(chain)
    assertion = jose.sign(claims, key, certs, alg=alg)
    content = urlencode(token_form(" ".join(scope.split()), assertion)).encode("ascii")
    exchange = http.send(policy, "POST", token_endpoint, content=content, step="token", client=client,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    result = interpret_token(exchange.status, exchange.content_type or "", exchange.body or b"",
                             requested_scope=" ".join(scope.split()), alg=alg, now=now,
                             is_ec=isinstance(key, ec.EllipticCurvePrivateKey), url=token_endpoint)
    result.assertion_view = {"header": {"alg": alg, "x5c": jose.x5c_for(certs)}, "claims": claims}
    if policy.audit is not None:
        policy.audit.learn_secret(result.access_token)
    return result


def interpret_token(status: int, content_type: str, body: bytes, *, requested_scope: str, alg: str,
                    now: datetime, is_ec: bool = False, url: str = "") -> TokenResult:
    """Check a token endpoint's answer: a usable token, or a TokenError saying why not."""
    parsed, kind = _parse(body, content_type)
    base = {"status": status, "url": url}
    if 200 <= status < 300:
        if kind != "json_object":
            raise TokenError("token_response_unreadable", body_kind=kind, content_type=content_type,
                             excerpt=_excerpt(body), **base)
        return _success(status, parsed, requested_scope, alg, now)
    if status < 400:
        raise TokenError("unexpected_status", content_type=content_type, excerpt=_excerpt(body), **base)
    fields: dict[str, Any] = dict(base, content_type=content_type,
                                  hints=["server_may_require_rsa"] if is_ec and status >= 500 else [])
    error = parsed.get("error") if kind == "json_object" else None
    description = parsed.get("error_description") if kind == "json_object" else None
    if isinstance(description, str):
        fields["error_description"] = redact_text(description)[:1000]
    if isinstance(error, str) and error:
        code = "rejected_" + error if error in KNOWN_ERRORS else "rejected_other"
        raise TokenError(code, error=error, **fields)
    if status in NO_ENDPOINT:  # the signed token_endpoint is wrong, not our assertion
        raise TokenError("endpoint_not_found", body_kind=kind, excerpt=_excerpt(body), **fields)
    raise TokenError("server_error" if status >= 500 else "rejected_without_error_code", body_kind=kind,
                     excerpt=_excerpt(body), **fields)


def _success(status, resp, requested_scope, alg, now) -> TokenResult:
    token = resp.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise TokenError("no_access_token", status=status, members=sorted(k for k in resp if k != "refresh_token"))
    warnings: list[statement.Finding] = []
    warn = lambda code, fld, **d: warnings.append(statement.Finding(code, "warning", fld, d))  # noqa: E731
    token_type = resp.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        warn("token_type_not_bearer", "token_type", token_type=token_type)
    expires_in = resp.get("expires_in")
    if expires_in is None:
        warn("expires_in_missing", "expires_in")
    elif isinstance(expires_in, bool) or not isinstance(expires_in, (int, float, str)) or not _is_number(expires_in):
        warn("expires_in_not_number", "expires_in", value=str(expires_in)[:40])
        expires_in = None
    else:
        expires_in = int(float(expires_in))
        if expires_in > MAX_TOKEN_SECONDS:
            warn("expires_in_over_one_hour", "expires_in", seconds=expires_in, limit=MAX_TOKEN_SECONDS)
    granted = resp.get("scope")
    granted = granted if isinstance(granted, str) else None
    asked = set(requested_scope.split())
    got = set(granted.split()) if granted is not None else asked  # RFC 6749 §5.1: absent = as requested
    added, removed = sorted(got - asked), sorted(asked - got)
    if added or removed:
        warn("scope_differs", "scope", added=added, removed=removed)
    return TokenResult(access_token=token, token_type=token_type if isinstance(token_type, str) else None,
                       expires_in=expires_in, requested_scope=requested_scope, granted_scope=granted,
                       scope_added=added, scope_removed=removed, http_status=status, alg=alg,
                       obtained_at=now.isoformat(), warnings=warnings,
                       refresh_token=resp.get("refresh_token") if isinstance(resp.get("refresh_token"), str) else None)


def _is_number(value) -> bool:
    """A finite number: "nan", "inf" and integers beyond float range (JSON allows them) are not."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def expires_at(result: TokenResult) -> datetime | None:
    if result.expires_in is None:
        return None
    try:
        return datetime.fromisoformat(result.obtained_at) + timedelta(seconds=result.expires_in)
    except OverflowError:  # "expires_in": 1e20 is past year 9999; there is no date to show
        return None


def _parse(body: bytes, content_type: str) -> tuple[Any, str]:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return {}, "empty"
    try:
        value = jsonlimits.loads(text)
    except ValueError:
        return {}, "html" if "html" in content_type.lower() or text[:1] == "<" else "text"
    if isinstance(value, dict):
        return value, "json_object"
    return value, "json_array" if isinstance(value, list) else "json_other"


def _excerpt(body: bytes) -> str:
    text = " ".join(body[:4 * EXCERPT_CHARS].decode("utf-8", errors="replace").split())
    return redact_text(text)[:EXCERPT_CHARS]


# ---------------------------------------------------------------- one FHIR call

def fhir_url(base_url: str, path: str | None = None) -> str:
    """{base}/metadata by default; a user path is resolved under base and must stay on its origin."""
    base = base_url.rstrip("/")
    if not path or not path.strip():
        url = base + "/metadata"
    else:
        path = path.strip()
        if urlsplit(path).scheme or path.startswith("//"):
            url = urljoin(base + "/", path)
        else:
            url = base + "/" + path.lstrip("/")
    if _origin(url) != _origin(base):
        raise InputError("fhir_url_other_origin", base=base, url=url)
    return url


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def call_fhir(base_url: str, token: TokenResult | str, *, policy: http.HttpPolicy, path: str | None = None,
              client=None) -> FhirResult:
    """GET one FHIR URL with the bearer token; any HTTP status is a result, not an error."""
    url = fhir_url(base_url, path)
    value = token.access_token if isinstance(token, TokenResult) else token
    if policy.audit is not None:
        policy.audit.learn_secret(value)
    exchange = http.send(policy, "GET", url, step="fhir", client=client,
                         headers={"Authorization": f"Bearer {value}", "Accept": FHIR_ACCEPT})
    parsed, kind = _parse(exchange.body or b"", exchange.content_type or "")
    resource_type = parsed.get("resourceType") if kind == "json_object" else None
    resource_type = resource_type if isinstance(resource_type, str) else None
    summary = summarize(parsed) if resource_type else {"body_kind": kind, "excerpt": _excerpt(exchange.body or b"")}
    return FhirResult(url=exchange.url, status=exchange.status, content_type=exchange.content_type or "",
                      resource_type=resource_type, summary=summary)


def summarize(resource: dict[str, Any]) -> dict[str, Any]:
    """A few lines a person can read: what server, how many results, or what went wrong."""
    kind = resource.get("resourceType")
    out: dict[str, Any] = {"resourceType": kind}
    if kind == "CapabilityStatement":
        software = resource.get("software") if isinstance(resource.get("software"), dict) else {}
        rest = resource.get("rest") if isinstance(resource.get("rest"), list) else []
        resources = [r.get("type") for entry in rest if isinstance(entry, dict)
                     for r in (entry.get("resource") or []) if isinstance(r, dict)]
        out.update(fhirVersion=resource.get("fhirVersion"), status=resource.get("status"),
                   software=" ".join(str(software.get(k)) for k in ("name", "version") if software.get(k)) or None,
                   resource_count=len(resources), resources=resources[:10])
    elif kind == "Bundle":
        entries = resource.get("entry") if isinstance(resource.get("entry"), list) else []
        out.update(type=resource.get("type"), total=resource.get("total"), entries=len(entries))
    elif kind == "OperationOutcome":
        issues = resource.get("issue") if isinstance(resource.get("issue"), list) else []
        out["issues"] = [{"severity": i.get("severity"), "code": i.get("code"),
                          "diagnostics": redact_text(str(i.get("diagnostics") or ""))[:200]}
                         for i in issues[:3] if isinstance(i, dict)]
    else:
        out["id"] = resource.get("id")
    return out

