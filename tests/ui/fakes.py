"""A small fake of Session + onboarding + workflow with the same names as the real ones.

Enough behaviour for the pages to show what a person would see; every call is recorded in
``calls`` and any function can be made to fail by putting an exception in ``fail[name]``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from app.ui.context import Backend

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
PRACTICE = "practice"
SERVER = "https://fhir.practice.test/r4"


# The real workflow and Profile are light (no network, no keys): the fake uses them so that the
# wizard's routing in tests is the routing users get.
from app.core import workflow as real_workflow  # noqa: E402
from app.core.profile import Profile, ProfileStore  # noqa: E402


def _cert_pems(client_uri: str, days: int = 335) -> list[str]:
    from tests.pki import make_community

    c = make_community(san_uris=(client_uri,), not_after=NOW + timedelta(days=days))
    return [c.leaf.pem.decode(), c.intermediate.pem.decode()]


@dataclass
class Community:
    name: str
    uri: str
    servers: list[str] = field(default_factory=list)
    builtin: bool = False
    anchors: list[str] = field(default_factory=list)

    def anchor_fingerprints(self) -> list[str]:
        return ["AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"]


class CommunityCatalog:
    def __init__(self) -> None:
        self._items = {PRACTICE: Community(PRACTICE, "urn:udap-onboard:practice", [SERVER]),
                       "Example Network": Community("Example Network", "https://example.org/community",
                                                   ["https://fhir.example.org/r4"])}

    def list(self) -> list[Community]:
        return list(self._items.values())

    def get(self, name: str) -> Community:
        return self._items[name]

    def add(self, c: Community) -> None:
        self._items[c.name] = c


class Practice:
    running = False

    def start(self, modes=()) -> dict:
        self.running = True
        return {"name": PRACTICE, "community_uri": "urn:udap-onboard:practice", "base_url": SERVER,
                "anchor_fingerprint": "AB:CD"}

    def stop(self) -> None:
        self.running = False


class FakeSession:
    def __init__(self, home: Path | None = None) -> None:
        self.home = Path(home or tempfile.mkdtemp(prefix="udap-ui-"))
        self.profiles = ProfileStore(self.home)
        self.communities = CommunityCatalog()
        self.practice = Practice()

    def now(self) -> datetime:
        return NOW


# --------------------------------------------------------------------------------- onboarding
# Result types mirror app.core.onboarding / discovery / statement / token (names and fields).

@dataclass
class Problem:
    code: str
    severity: str
    fields: dict = field(default_factory=dict)


@dataclass
class CertificateCheck:
    problems: list[Problem]
    summaries: list[dict]
    trust: dict | None = None
    saved: bool = False

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.blocking and (self.trust is None or bool(self.trust.get("ok")))


@dataclass
class CheckRow:
    id: str
    title: str
    status: str  # pass | fail | warning
    reason: str = "ok"
    detail: dict = field(default_factory=dict)


@dataclass
class ServerMetadata:
    base_url: str
    registration_endpoint: str
    token_endpoint: str
    scopes_supported: list[str] | None
    registration_signing_algs: list[str] = field(default_factory=lambda: ["RS256"])


@dataclass
class DiscoveryReport:
    base_url: str
    community_uri: str | None
    rows: list[CheckRow]
    metadata: ServerMetadata | None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.metadata is not None and not any(r.status == "fail" for r in self.rows)


@dataclass
class StatementRequest:
    grant: str = "client_credentials"
    scope: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    logo_uri: str | None = None


@dataclass
class Finding:
    code: str
    severity: str
    field: str
    detail: dict = field(default_factory=dict)


@dataclass
class SignedStatement:
    token: str
    alg: str
    header: dict
    claims: dict


@dataclass
class ServerOutcome:
    server: str
    outcome: str  # registered | modified | cancelled | rejected | error
    client_id: str | None = None
    http_status: int | None = None
    error: str | None = None
    explanation: dict | None = None
    granted: dict = field(default_factory=dict)
    diff: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome in ("registered", "modified", "cancelled")


@dataclass
class TokenResult:
    token_type: str | None
    expires_in: int | None
    requested_scope: str
    granted_scope: str | None
    scope_added: list[str]
    scope_removed: list[str]
    http_status: int = 200


@dataclass
class FhirResult:
    url: str
    status: int
    content_type: str
    resource_type: str | None
    summary: dict

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class AccessTest:
    token: TokenResult
    fhir: FhirResult | None

    @property
    def ok(self) -> bool:
        return self.fhir is None or self.fhir.ok


class FakeOnboarding:
    """Same function names, signatures and result shapes as app.core.onboarding."""

    StatementRequest = StatementRequest

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.fail: dict[str, BaseException] = {}
        self.cert_problems: list[Problem] = []
        self.reject: set[str] = set()
        self.scopes = ["system/Patient.rs", "system/Observation.rs", "system/*.rs"]

    def _enter(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))
        if name in self.fail:
            raise self.fail[name]

    def called(self, name: str) -> list[tuple[tuple, dict]]:
        return [(a, k) for n, a, k in self.calls if n == name]

    def create_profile(self, session, name, *, org_name, client_name, client_uri, contact, org_id=None,
                       community=None):
        self._enter("create_profile", name, org_name=org_name, client_name=client_name, client_uri=client_uri,
                    contact=contact, org_id=org_id, community=community)
        contact = contact if contact.startswith("mailto:") else "mailto:" + contact
        p = Profile(name, org_name, client_name, client_uri, [contact], org_id or "https://riverside.example.org",
                    community=community or PRACTICE)
        return session.profiles.create(p, now=NOW), []

    def check_client_uri(self, uri):
        from app.core.csr import validate_client_uri

        return validate_client_uri(uri)

    def update_profile(self, session, profile, **changes):
        self._enter("update_profile", **changes)
        if "contact" in changes:
            changes["contacts"] = ["mailto:" + changes.pop("contact").removeprefix("mailto:")]
        for key, value in changes.items():
            setattr(profile, key, value)
        return session.profiles.save(profile, now=NOW)

    def generate_key(self, session, profile, key_type="rsa-3072", *, replace=False):
        self._enter("generate_key", key_type)
        profile.key_type, profile.key_file, profile.key_source = str(key_type), "key.p12", "generated"
        return session.profiles.save(profile, now=NOW)

    def import_pkcs12(self, session, profile, data, password, *, replace=False):
        self._enter("import_pkcs12", data, password)
        profile.key_type, profile.key_file, profile.key_source = "rsa-2048", "key.p12", "pkcs12"
        profile.certificate_chain_pem = _cert_pems(profile.client_uri)
        session.profiles.save(profile, now=NOW)
        return self._check(profile)

    def create_csr(self, session, profile, subject=None):
        self._enter("create_csr", subject=subject)
        profile.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIC...fake...\n-----END CERTIFICATE REQUEST-----\n"
        session.profiles.save(profile, now=NOW)
        return profile.csr_pem

    def openssl_commands(self, profile, subject=None):
        return ("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -aes-256-cbc -out key.pem\n"
                f"openssl req -new -key key.pem -subj '/CN={profile.client_name}' "
                f"-addext 'subjectAltName=URI:{profile.client_uri}' -out request.csr")

    def issue_practice_certificate(self, session, profile):
        self._enter("issue_practice_certificate")
        profile.certificate_chain_pem = _cert_pems(profile.client_uri)
        session.profiles.save(profile, now=NOW)
        return self._check(profile)

    def _check(self, profile) -> CertificateCheck:
        blocking = any(p.severity == "error" for p in self.cert_problems)
        summaries = [{"subject": f"CN={profile.client_name}", "days_left": 335, "fingerprint": "AA:BB",
                      "san_uris": [profile.client_uri], "key_type": "RSA 3072", "is_ca": False},
                     {"subject": "CN=Practice Intermediate CA", "days_left": 1500, "fingerprint": "CC:DD",
                      "is_ca": True, "san_uris": [], "key_type": "EC P-256"}]
        trust = {"ok": True, "rows": [
            {"subject": f"CN={profile.client_name}", "fingerprint": "AA:BB", "status": "ok", "reason": "ok",
             "detail": {}},
            {"subject": "CN=Practice Intermediate CA", "fingerprint": "CC:DD", "status": "ok", "reason": "ok",
             "detail": {}},
            {"subject": "CN=Practice Root CA", "fingerprint": "EE:FF", "status": "ok", "reason": "anchor",
             "detail": {}}]}
        return CertificateCheck(list(self.cert_problems), summaries, trust, saved=not blocking)

    def import_certificate(self, session, profile, blobs, password=None, *, community=None):
        self._enter("import_certificate", blobs, password=password)
        check = self._check(profile)
        if check.ok:
            profile.certificate_chain_pem = _cert_pems(profile.client_uri)
            session.profiles.save(profile, now=NOW)
        return check

    def check_certificate(self, session, profile, community=None):
        self._enter("check_certificate", community=community)
        return self._check(profile)

    def discover(self, session, server, community_name):
        self._enter("discover", server, community_name)
        rows = [CheckRow("D1", "Server metadata can be read", "pass"),
                CheckRow("D-V1", "Metadata is signed by a trusted certificate", "pass"),
                CheckRow("CLOCK", "Server clock agrees with ours", "pass")]
        meta = ServerMetadata(server, server + "/register", server + "/token", list(self.scopes))
        return DiscoveryReport(server, "urn:practice", rows, meta)

    def lint_statement(self, session, profile, metadata, request):
        self._enter("lint_statement", request)
        lint = []
        if request.grant == "authorization_code" and not request.redirect_uris:
            lint.append(Finding("redirect_uris_missing", "error", "redirect_uris"))
        if request.grant == "authorization_code" and not request.logo_uri:
            lint.append(Finding("logo_uri_missing", "error", "logo_uri"))
        return lint

    def build_statement(self, session, profile, metadata, request=None, *, cancel=False):
        self._enter("build_statement", request, cancel=cancel)
        request = request or StatementRequest()
        claims = {"iss": profile.client_uri, "sub": profile.client_uri, "aud": metadata.registration_endpoint,
                  "client_name": profile.client_name, "grant_types": [request.grant], "scope": request.scope or "",
                  "token_endpoint_auth_method": "private_key_jwt"}
        return SignedStatement("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", "RS256",
                               {"alg": "RS256", "x5c": ["MII" * 30]}, claims)

    def register(self, session, profile, servers, community_name=None, *, cancel=False, request=None,
                 max_workers=4):
        self._enter("register", servers, community_name, cancel=cancel, request=request)
        community = community_name or profile.community
        rows = []
        for s in servers:
            if s in self.reject:
                rows.append(ServerOutcome(s, "rejected", http_status=400, error="invalid_software_statement",
                                          explanation={"domain": "registration", "code": "rejected_invalid_software_statement",
                                                       "fields": {"status": 400, "error": "invalid_software_statement",
                                                                  "error_description": "aud does not match"}}))
                continue
            requested = {"grant_types": list(profile.grant_types), "scope": " ".join(profile.scopes)}
            granted = {"grant_types": [] if cancel else list(profile.grant_types),
                       "scope": "" if cancel else (profile.scopes[0] if profile.scopes else "")}
            diff = [{"field": k, "requested": requested[k], "granted": granted[k],
                     "status": "same" if requested[k] == granted[k] else "narrowed"} for k in requested]
            outcome = "cancelled" if cancel else ("modified" if profile.registrations_in(community) else "registered")
            client_id = "removed" if cancel else "client-123"
            rows.append(ServerOutcome(s, outcome, client_id, 200 if cancel else 201, granted=granted, diff=diff))
            if cancel:
                profile.forget_registration(s + "/register", community, profile.client_uri)
            else:
                profile.record_registration(s + "/register", community, profile.client_uri,
                                            {"client_id": client_id, "granted": granted, "server": s,
                                             "certificate_fingerprint": profile.certificate_fingerprint()}, now=NOW)
            if s not in profile.servers:
                profile.servers.append(s)
        session.profiles.save(profile, now=NOW)
        return rows

    def request_token(self, session, profile, server, fhir_path="metadata", *, scope=None, purpose_of_use=None):
        self._enter("request_token", server, fhir_path=fhir_path)
        reg = profile.registrations_in(profile.community)
        profile.record_token_test(reg[0]["client_id"] if reg else "none", server + "/token", now=NOW)
        session.profiles.save(profile, now=NOW)
        token = TokenResult("Bearer", 300, "system/Patient.rs", "system/Patient.rs", [], [])
        fhir = FhirResult(f"{server}/{fhir_path}", 200, "application/fhir+json", "CapabilityStatement",
                          {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}) if fhir_path else None
        return AccessTest(token, fhir)

    def export_evidence(self, session, profile, out):
        self._enter("export_evidence", out)
        Path(out).write_bytes(b"PK fake zip")
        return Path(out)


def fake_backend(home: Path | None = None) -> Backend:
    return Backend(FakeSession(home), FakeOnboarding(), real_workflow)
