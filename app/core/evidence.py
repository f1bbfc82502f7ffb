"""The audit trail of every network exchange (secrets redacted) and the exportable evidence bundle.

Connectathon testers and auditors need timestamped requests and responses; nothing in them may
let a reader act as the client. Redaction (app/core/redact.py) therefore happens when an exchange is
*recorded*, and once more over the finished bundle with every secret value the trail has seen.
"""

from __future__ import annotations

import base64
import binascii
import html
import io
import json
import re
import threading
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from app import __version__
from app.core import jsonlimits
from app.core.redact import (REDACTED, learn, redact_body, redact_headers, redact_text, redact_url,
                             redact_value)
from app.core.secretscan import KnownSecrets

@dataclass
class AuditEntry:
    """One exchange as it may be shown to anyone: no secret survives into these fields."""

    time: str
    step: str | None
    method: str
    url: str
    status: int | None
    elapsed_ms: int
    request_headers: dict[str, str]
    request_body: str | None
    response_headers: dict[str, str]
    response_body: str | None
    server_date: str | None = None
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditTrail:
    """Thread-safe list of redacted exchanges; ``policy.audit`` of core/http.py feeds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[AuditEntry] = []
        self._known = KnownSecrets()
        self._local = threading.local()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Label every exchange recorded by this thread inside the block (e.g. "discovery")."""
        previous = getattr(self._local, "step", None)
        self._local.step = name
        try:
            yield
        finally:
            self._local.step = previous

    def learn_secret(self, value: str) -> None:
        """Scrub this value from every entry recorded from now on and from any export."""
        with self._lock:
            learn(self._known, value)

    def record(self, method: str, url: str, request_headers=None, request_body=None, status: int | None = None,
               response_headers=None, response_body=None, elapsed: float = 0.0, step: str | None = None, *,
               server_date: datetime | None = None, error: dict[str, Any] | None = None,
               now: datetime | None = None) -> AuditEntry:
        now = now or datetime.now(timezone.utc)
        with self._lock:
            known = self._known
            learnt_before = len(known.added)
            req_h = redact_headers(request_headers, known)
            resp_h = redact_headers(response_headers, known)
            req_b = redact_body(request_body, req_h.get("content-type", ""), known)
            resp_b = redact_body(response_body, resp_h.get("content-type", ""), known)
            error = redact_value(error, known) if error else None
            url = redact_url(str(url), known)
            # A secret learnt late in this entry (the response's token, a JWS signature in the body)
            # may occur in a field redacted before it was known: such a field gets redact_text again
            # with everything known (what every field used to get; redact_text is idempotent, so the
            # others would not change).
            late = known.added[learnt_before:]
            if late:
                def stale(text) -> bool:
                    return bool(text) and any(secret in text for secret in late)

                if stale(url):
                    url = redact_text(url, known)
                req_h = {k: redact_text(v, known) if stale(v) else v for k, v in req_h.items()}
                resp_h = {k: redact_text(v, known) if stale(v) else v for k, v in resp_h.items()}
                if stale(req_b):  # from the body itself: JSON stays JSON
                    req_b = redact_body(request_body, req_h.get("content-type", ""), known)
                if stale(resp_b):
                    resp_b = redact_body(response_body, resp_h.get("content-type", ""), known)
                if error:  # a few fields: simply again
                    error = redact_value(error, known)
            entry = AuditEntry(
                time=now.isoformat(), step=step or getattr(self._local, "step", None), method=method.upper(),
                url=url, status=status, elapsed_ms=int(round(elapsed * 1000)),
                request_headers=req_h, request_body=req_b, response_headers=resp_h, response_body=resp_b,
                server_date=server_date.isoformat() if server_date else None, error=error)
            self._entries.append(entry)
            return entry

    @property
    def entries(self) -> list[AuditEntry]:
        with self._lock:
            return list(self._entries)

    def known_secrets(self) -> set[str]:
        with self._lock:
            return set(self._known)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def to_jsonable(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.entries]


# ---- the evidence bundle -------------------------------------------------------------------

_JWT_PARTS = re.compile(r"(eyJ[A-Za-z0-9_-]+)\.(eyJ[A-Za-z0-9_-]*)")


def _b64json(part: str) -> Any:
    try:
        return jsonlimits.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def decoded_jwts(texts: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """Header + claims of every JWS found in (where, text) pairs; signatures are never included."""
    seen: set[tuple[str, str]] = set()
    found = []
    for where, text in texts:
        for m in _JWT_PARTS.finditer(text or ""):
            if m.groups() in seen:
                continue
            header, claims = _b64json(m.group(1)), _b64json(m.group(2))
            if isinstance(header, dict) and isinstance(claims, dict):
                seen.add(m.groups())
                found.append({"found_in": where, "header": header, "claims": claims})
    return found


def certificate_entry(cert: x509.Certificate, now: datetime, label: str = "") -> dict[str, Any]:
    fp = cert.fingerprint(hashes.SHA256()).hex().upper()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    state = "expired" if now > na else "not_yet_valid" if now < nb else "valid"
    return {"label": label, "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "X"), "sha256_fingerprint": ":".join(fp[i:i + 2] for i in range(0, len(fp), 2)),
            "not_before": nb.isoformat(), "not_after": na.isoformat(), "days_left": (na - now).days,
            "validity": state, "san_uris": list(uris)}


def _as_dict(item: Any) -> Any:
    return item.to_dict() if hasattr(item, "to_dict") else item


def _labelled(certificates) -> list[tuple[str, x509.Certificate]]:
    if isinstance(certificates, Mapping):
        return [(str(k), v) for k, v in certificates.items()]
    return [(c[0], c[1]) if isinstance(c, tuple) else ("", c) for c in certificates or ()]


def build_evidence(*, profile_summary: dict, trail: AuditTrail, discovery_reports=(), registration_results=(),
                   certificates=(), now: datetime | None = None) -> dict[str, Any]:
    """The evidence document (redacted, JSON-safe); export_evidence writes it and its HTML view."""
    now = now or datetime.now(timezone.utc)
    known = trail.known_secrets()
    entries = trail.to_jsonable()
    doc = {
        "generated": now.isoformat(), "tool": f"udap-onboard/{__version__}",
        "profile": redact_value(_as_dict(profile_summary) or {}, known),
        "certificates": [certificate_entry(c, now, label) for label, c in _labelled(certificates)],
        "discovery": [redact_value(_as_dict(r), known) for r in discovery_reports or ()],
        "registrations": [redact_value(_as_dict(r), known) for r in registration_results or ()],
        "exchanges": entries,
    }
    texts = []
    for i, e in enumerate(entries):
        for part in ("url", "request_body", "response_body"):
            texts.append((f"exchange {i + 1} ({e['step'] or e['method']}) {part.replace('_', ' ')}", e[part]))
    texts += [("discovery", json.dumps(doc["discovery"])), ("registrations", json.dumps(doc["registrations"]))]
    doc["jwts"] = decoded_jwts(texts)
    return doc


_CSS = ("body{font-family:sans-serif;margin:2em;max-width:70em}pre{background:#f4f4f4;padding:.5em;"
        "white-space:pre-wrap;word-break:break-all}table{border-collapse:collapse}td,th{border:1px solid #999;"
        "padding:.2em .5em;text-align:left;vertical-align:top}.fail{color:#a00}.warning{color:#a60}")


def _body(text: str | None) -> str:
    """A recorded body for reading: JSON indented (the trail keeps it compact, ~10x cheaper per exchange)."""
    if text and text[:1] in "{[":
        try:
            return json.dumps(json.loads(text), ensure_ascii=False, indent=1)
        except ValueError:
            pass  # truncated or not JSON after all: as recorded
    return text or ""


def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1),
                       quote=True)


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f'<td class="{_e(str(r.get("status", "")))}">{_e(r.get(c, ""))}</td>'
                                    for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(doc: dict[str, Any]) -> str:
    """Self-contained and inert: everything escaped, no script, no external resource."""
    out = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>UDAP onboarding evidence</title>"
           f"<style>{_CSS}</style></head><body><h1>UDAP onboarding evidence</h1>",
           f"<p>Generated {_e(doc['generated'])} by {_e(doc['tool'])}.</p>",
           f"<h2>Profile</h2><pre>{_e(doc['profile'])}</pre><h2>Certificates</h2>",
           _table(doc["certificates"], ["label", "subject", "issuer", "sha256_fingerprint", "not_before",
                                        "not_after", "validity", "san_uris"])]
    for report in doc["discovery"]:
        rep = report if isinstance(report, dict) else {"value": report}
        out.append(f"<h2>Discovery: {_e(str(rep.get('base_url', '')))}</h2>"
                   f"<p>Result: {'accepted' if rep.get('ok') else 'rejected'}</p>")
        out.append(_table(rep.get("rows", []), ["id", "title", "status", "reason", "detail"]))
    out.append("<h2>Registrations</h2>")
    out += [f"<pre>{_e(r)}</pre>" for r in doc["registrations"]] or ["<p>None.</p>"]
    out.append("<h2>Decoded JWTs (signatures removed)</h2>")
    for jwt in doc["jwts"]:
        out.append(f"<h3>{_e(jwt['found_in'])}</h3><pre>{_e(jwt['header'])}</pre><pre>{_e(jwt['claims'])}</pre>")
    out.append("<h2>Exchanges</h2>")
    for i, x in enumerate(doc["exchanges"], 1):
        out.append(f"<h3>{i}. {_e(x['method'])} {_e(x['url'])}</h3><p>{_e(x['time'])} · step {_e(str(x['step']))}"
                   f" · status {_e(str(x['status']))} · {x['elapsed_ms']} ms · server date {_e(str(x['server_date']))}</p>")
        if x.get("error"):
            out.append(f"<p class=\"fail\">Error: {_e(x['error'])}</p>")
        out.append(f"<pre>{_e(x['request_headers'])}\n\n{_e(_body(x['request_body']))}</pre>"
                   f"<pre>{_e(x['response_headers'])}\n\n{_e(_body(x['response_body']))}</pre>")
    out.append("</body></html>")
    return "".join(out)


def export_evidence(path: str | Path, *, profile_summary: dict, trail: AuditTrail, discovery_reports=(),
                    registration_results=(), certificates=(), now: datetime | None = None) -> Path:
    """Write a zip with ``report.html`` and ``evidence.json``; a folder gets a timestamped file name."""
    from app.core.storage import atomic_write

    now = now or datetime.now(timezone.utc)
    doc = build_evidence(profile_summary=profile_summary, trail=trail, discovery_reports=discovery_reports,
                         registration_results=registration_results, certificates=certificates, now=now)
    known = trail.known_secrets()
    members = {"evidence.json": json.dumps(doc, ensure_ascii=False, indent=1), "report.html": render_html(doc)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            for secret in known:  # belt and braces: nothing the trail saw as secret leaves
                text = text.replace(secret, REDACTED)
            info = zipfile.ZipInfo(name, date_time=now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.encode("utf-8"))
    target = Path(path)
    if target.is_dir():
        target = target / f"udap-evidence-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
    return atomic_write(target, buffer.getvalue(), mode=0o600)
