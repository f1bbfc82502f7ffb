"""UDAP dynamic client registration (IG §3.2–3.4): register, modify, cancel, and many servers at once.

Servers answer in many shapes (RFC 7591 errors, bare 500s, HTML pages); every answer is turned
into either a ``RegistrationResult`` or a ``RegistrationError`` whose fields let the feedback
table say what to do next, including what our own lint thinks is wrong with what we sent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

from cryptography.hazmat.primitives.asymmetric import ec

from app.core import http, jose, jsonlimits, statement
from app.core.certs import fingerprint
from app.core.errors import RegistrationError, UdapOnboardError
from app.core.redact import redact_text

KNOWN_ERRORS = ("invalid_software_statement", "unapproved_software_statement", "invalid_client_metadata",
                "invalid_redirect_uri", "unapproved_certification", "invalid_certification")
COMPARED = ("scope", "grant_types", "redirect_uris", "response_types", "client_name", "contacts", "logo_uri",
            "token_endpoint_auth_method")
# Never kept: RFC 7592 credentials and secrets are not part of UDAP (R12/R13).
SECRET_MEMBERS = ("client_secret", "registration_access_token")
EXCERPT_CHARS = 300
NO_ENDPOINT = (404, 405, 410)  # without an OAuth error member: no such service at this address


@dataclass
class Reply:
    """What came back, independent of the HTTP library: status, content type and raw body."""

    status: int
    content_type: str
    body: bytes


@dataclass
class RegistrationResult:
    """A registration the server accepted (registered, modified or cancelled)."""

    outcome: str
    client_id: str | None
    http_status: int
    granted: dict[str, Any]
    diff: list[dict[str, Any]]
    warnings: list[statement.Finding]
    endpoint: str
    community: str | None
    iss: str | None
    certificate_fingerprint: str | None
    time: str
    requested: dict[str, Any] = field(default_factory=dict)
    retry_with_same_certificate: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = [w.to_dict() for w in self.warnings]
        return d


# ---------------------------------------------------------------- one server

def register(registration_endpoint: str, software_statement: Any, *, policy: http.HttpPolicy,
             client=None, community: str | None = None, now: datetime | None = None,
             certifications: Sequence[str] | None = None, previous_client_id: str | None = None
             ) -> RegistrationResult:
    """POST {software_statement, udap:"1"} as JSON and interpret the answer (raises RegistrationError)."""
    now = now or datetime.now(timezone.utc)
    token = getattr(software_statement, "token", software_statement)
    body: dict[str, Any] = {"software_statement": token}
    if certifications:
        body["certifications"] = list(certifications)
    body["udap"] = "1"
    reply = _post(policy, client, registration_endpoint, body)
    return interpret(reply, token, endpoint=registration_endpoint, community=community, now=now,
                     previous_client_id=previous_client_id)


def _post(policy, client, url: str, body: dict[str, Any]) -> Reply:
    # http.send, not post_json: every status and any body must reach interpret(), unparsed.
    content = json.dumps(body, separators=(",", ":")).encode("utf-8")
    exchange = http.send(policy, "POST", url, headers={"Content-Type": "application/json"}, content=content,
                         step="registration", client=client)
    return Reply(status=exchange.status, content_type=exchange.content_type or "", body=exchange.body or b"")


def interpret(reply: Reply, token: str, *, endpoint: str, community: str | None, now: datetime,
              previous_client_id: str | None = None) -> RegistrationResult:
    """Turn a server's answer to the statement ``token`` into a result, or raise RegistrationError."""
    sent = _decode_quietly(token)
    claims = sent.claims if sent else {}
    context = {"endpoint": endpoint, "community": community, "iss": claims.get("iss"),
               "certificate_fingerprint": _fingerprint(sent)}
    parsed, kind = _parse(reply)
    if 200 <= reply.status < 300:
        if kind != "json_object":
            raise RegistrationError("success_response_unreadable", status=reply.status, body_kind=kind,
                                    content_type=reply.content_type, excerpt=_excerpt(reply.body), **context)
        return _success(reply.status, parsed, token, claims, context, now, previous_client_id)
    if reply.status < 400:
        raise RegistrationError("unexpected_status", status=reply.status, content_type=reply.content_type,
                                excerpt=_excerpt(reply.body), **context)
    raise _failure(reply, parsed, kind, sent, context, now)


def _success(status, resp, token, claims, context, now, previous_client_id) -> RegistrationResult:
    warnings: list[statement.Finding] = []
    warn = lambda code, fld, **d: warnings.append(statement.Finding(code, "warning", fld, d))  # noqa: E731
    client_id = resp.get("client_id")
    requested_cancel = claims.get("grant_types") == []
    cancelled = resp.get("grant_types") == [] or client_id == "removed" or (
        requested_cancel and "grant_types" not in resp)
    if cancelled:
        outcome = "cancelled"
        if not requested_cancel:
            warn("unexpected_cancellation", "grant_types", granted=resp.get("grant_types"))
        if not isinstance(client_id, str) or not client_id or client_id == "removed":
            client_id = previous_client_id
    else:
        if not isinstance(client_id, str) or not client_id.strip():
            raise RegistrationError("no_client_id", status=status, members=sorted(resp)[:20], **context)
        outcome = "registered" if status == 201 else "modified"
        if requested_cancel:
            warn("cancel_not_confirmed", "grant_types", granted=resp.get("grant_types"))
        if previous_client_id and client_id != previous_client_id:
            warn("client_id_changed", "client_id", previous=previous_client_id, new=client_id)
    echoed = resp.get("software_statement")
    if echoed is None:
        warn("statement_not_echoed", "software_statement")
    elif echoed != token:
        warn("echoed_statement_altered", "software_statement")
    for name in SECRET_MEMBERS:
        if name in resp:
            warn(name + "_ignored", name)
    granted = {k: v for k, v in resp.items() if k not in SECRET_MEMBERS and k != "software_statement"}
    requested = {k: v for k, v in claims.items() if k not in statement.JWT_CLAIMS}
    return RegistrationResult(outcome=outcome, client_id=client_id, http_status=status, granted=granted,
                              diff=diff_rows(requested, granted), warnings=warnings, time=now.isoformat(),
                              requested=requested, **context)


def diff_rows(requested: dict[str, Any], granted: dict[str, Any]) -> list[dict[str, Any]]:
    """Requested vs granted, one row per registration parameter, for a side-by-side view."""
    names = list(COMPARED) + sorted(k for k in requested if k not in COMPARED)
    rows = []
    for name in names:
        if name not in requested and name not in granted:
            continue
        req, got = requested.get(name), granted.get(name)
        rows.append({"field": name, "requested": req, "granted": got, "status": _compare(name, req, got,
                                                                                          name in granted)})
    return rows


def _compare(name, req, got, returned: bool) -> str:
    if req is None:
        return "added"
    if not returned:
        return "not_returned"
    if name == "scope" and isinstance(req, str) and isinstance(got, str):
        a, b = set(req.split()), set(got.split())
        return "same" if a == b else "narrowed" if b < a else "widened" if b > a else "changed"
    if isinstance(req, list) and isinstance(got, list) and all(isinstance(x, str) for x in req + got):
        return "same" if sorted(req) == sorted(got) else "changed"
    return "same" if req == got else "changed"


def _failure(reply, parsed, kind, sent, context, now) -> RegistrationError:
    fields: dict[str, Any] = {"status": reply.status, "content_type": reply.content_type, **context}
    fields.update(likely=_likely(sent, context["endpoint"], now), hints=_hints(sent, reply.status))
    error = parsed.get("error") if kind == "json_object" else None
    description = parsed.get("error_description") if kind == "json_object" else None
    if isinstance(description, str):
        fields["error_description"] = description[:1000]
    if isinstance(error, str) and error:
        fields["error"] = error
        retry = error != "unapproved_software_statement"
        fields["retry_with_same_certificate"] = retry
        code = "rejected_" + error if error in KNOWN_ERRORS else "rejected_other"
        return RegistrationError(code, **fields)
    fields.update(body_kind=kind, excerpt=_excerpt(reply.body), retry_with_same_certificate=True)
    if reply.status in NO_ENDPOINT:  # the signed registration_endpoint is wrong, not our statement
        return RegistrationError("endpoint_not_found", **fields)
    return RegistrationError("server_error" if reply.status >= 500 else "rejected_without_error_code", **fields)


def _parse(reply: Reply) -> tuple[Any, str]:
    """(value, kind): kind is json_object, json_array, json_other, html, text or empty."""
    text = reply.body.decode("utf-8", errors="replace").strip()
    if not text:
        return {}, "empty"
    try:
        value = jsonlimits.loads(text)
    except ValueError:
        looks_html = "html" in reply.content_type.lower() or text[:1] == "<"
        return {}, "html" if looks_html else "text"
    if isinstance(value, dict):
        return value, "json_object"
    return {}, "json_array" if isinstance(value, list) else "json_other"


def _excerpt(body: bytes) -> str:
    text = " ".join(body[:4 * EXCERPT_CHARS].decode("utf-8", errors="replace").split())
    return redact_text(text)[:EXCERPT_CHARS]


def _decode_quietly(token: str):
    try:
        return jose.decode(token)
    except UdapOnboardError:
        return None


def _fingerprint(decoded) -> str | None:
    if not decoded or not decoded.certificates:
        return None
    return fingerprint(decoded.certificates[0])


def _likely(decoded, endpoint: str, now: datetime, limit: int = 3) -> list[dict[str, Any]]:
    """Top findings of our own lint on the statement that was sent: errors first."""
    if decoded is None:
        return [{"code": "statement_unreadable", "severity": "error", "field": "software_statement", "detail": {}}]
    findings = statement.lint(decoded.claims, now=now, registration_endpoint=endpoint,
                              leaf=decoded.certificates[0] if decoded.certificates else None, header=decoded.header)
    findings.sort(key=lambda f: f.severity != "error")
    return [f.to_dict() for f in findings[:limit]]


def _hints(decoded, status: int) -> list[str]:
    if status < 500 or decoded is None:
        return []
    is_ec = str(decoded.header.get("alg", "")).startswith("ES") or (
        bool(decoded.certificates) and isinstance(decoded.certificates[0].public_key(), ec.EllipticCurvePublicKey))
    return ["server_may_require_rsa"] if is_ec else []


# ---------------------------------------------------------------- what the profile keeps

def to_record(outcome: RegistrationResult | RegistrationError, now: datetime | None = None) -> dict[str, Any]:
    """The dict stored by Profile.record_registration(endpoint, community, iss, record)."""
    if isinstance(outcome, RegistrationResult):
        return {"outcome": outcome.outcome, "client_id": outcome.client_id, "granted": outcome.granted,
                "certificate_fingerprint": outcome.certificate_fingerprint, "time": outcome.time,
                "http_status": outcome.http_status, "endpoint": outcome.endpoint, "community": outcome.community,
                "iss": outcome.iss, "retry_with_same_certificate": outcome.retry_with_same_certificate}
    f = outcome.fields
    now = now or datetime.now(timezone.utc)
    return {"outcome": "rejected" if 400 <= (f.get("status") or 0) < 500 else "error", "client_id": None,
            "granted": {}, "certificate_fingerprint": f.get("certificate_fingerprint"), "time": now.isoformat(),
            "http_status": f.get("status"), "endpoint": f.get("endpoint"), "community": f.get("community"),
            "iss": f.get("iss"), "error": f.get("error"), "explanation": outcome.code,
            "retry_with_same_certificate": f.get("retry_with_same_certificate", True)}


def may_retry(profile_record: dict[str, Any] | None, cert_fingerprint: str | None) -> bool:
    """False only when this very certificate was refused as unapproved here (DCR §5.2 note)."""
    if not profile_record or profile_record.get("retry_with_same_certificate", True):
        return True
    return _norm(profile_record.get("certificate_fingerprint")) != _norm(cert_fingerprint)


def _norm(fp: str | None) -> str:
    return (fp or "").replace(":", "").replace(" ", "").upper()
