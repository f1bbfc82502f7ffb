"""The journey's steps as functions of (session, profile, ...): the one thing the CLI and the pages call.

Each function does one step with the core modules, saves what it produced into the profile
(atomically, after the step succeeded) and returns a result the caller shows. Nothing here
prints or knows about Qt; failures are the typed errors of app/core/errors.py.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.core import certs, csr, keys, workflow
from app.core.community import TrustCommunity
from app.core.errors import CertificateError, CommunityError, InputError, KeyContainerError, ProfileError
from app.core.profile import Profile
from app.core.session import Session

PRACTICE = "practice"
# Servers registered concurrently (tests/bench/bench_servers.py, 20 servers at 100 ms latency): with a
# pool of 10 the second half waits a whole round trip pair (2.9x one server); 20 at once: see the bench.
REGISTER_POOL = 20
CLOCK_HINT_SECONDS = 5  # strict servers allow no leeway on iat (field notes); below the 30 s warning
KEY_FILE = "key.p12"


# ------------------------------------------------------------------ profile

def normalize_contact(contact: str) -> str:
    """An e-mail address or a mailto: URI -> a mailto: URI (IG: contacts need one)."""
    value = (contact or "").strip()
    address = value[7:] if value.lower().startswith("mailto:") else value
    local, _, domain = address.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in address) or domain.startswith("."):
        raise InputError("email_invalid", value=value)
    return f"mailto:{address}"


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def create_profile(session: Session, name: str, *, org_name: str, client_name: str, client_uri: str,
                   contact: str, org_id: str | None = None, community: str | None = None) -> tuple[Profile, list[str]]:
    """A new profile (no key yet). Returns it with the client-URI warnings to show."""
    warnings = csr.validate_client_uri(client_uri)
    for label, value in (("organization name", org_name), ("client name", client_name)):
        if not value or not value.strip():
            raise InputError("subject_field_required", field=label)
    org_id = (org_id or "").strip() or _origin(client_uri.strip())
    if not urlsplit(org_id).scheme:
        raise InputError("organization_id_not_uri", value=org_id)
    profile = Profile(name=name, org_name=org_name.strip(), client_name=client_name.strip(),
                      client_uri=client_uri.strip(), contacts=[normalize_contact(contact)], org_id=org_id,
                      community=(community or PRACTICE).strip())
    session.profiles.create(profile, now=session.now())
    return profile, warnings


def check_client_uri(uri: str) -> list[str]:
    """Warning codes for a client URI, or InputError: the live check on the organization page."""
    return csr.validate_client_uri(uri)


def update_profile(session: Session, profile: Profile, **changes: Any) -> Profile:
    """Change organization fields; the client URI is checked again, as on creation.

    The client URI is frozen once a certificate request exists: the request (and the certificate
    made from it) carries the old URI, and a registration with the new one would be refused.
    """
    if "client_uri" in changes:
        csr.validate_client_uri(changes["client_uri"])
        if changes["client_uri"] != profile.client_uri and (profile.csr_pem or profile.certificate_chain_pem):
            raise InputError("client_uri_locked", uri=profile.client_uri)
    if "contact" in changes:
        changes["contacts"] = [normalize_contact(changes.pop("contact"))]
    for key, value in changes.items():
        if not hasattr(profile, key):
            raise InputError("unknown_profile_field", field=key)
        setattr(profile, key, value)
    return session.profiles.save(profile, now=session.now())


def state_of(session: Session, profile: Profile) -> workflow.OnboardingState:
    return workflow.OnboardingState.from_profile(profile, session.now())


# ------------------------------------------------------------------ key

def _secret_name(profile: Profile) -> str:
    """A stable, unique keyring entry per key container (two homes may hold the same profile name)."""
    name = profile.extra.get("key_secret")
    if not isinstance(name, str) or not name:
        name = f"key-{uuid.uuid4().hex}"
        profile.extra["key_secret"] = name
    return name


def key_path(session: Session, profile: Profile) -> Path:
    return session.profiles.path(profile.name) / (profile.key_file or KEY_FILE)


def generate_key(session: Session, profile: Profile, key_type: str | keys.KeyType = keys.DEFAULT_KEY_TYPE, *,
                 replace: bool = False, stop: Any = None) -> Profile:
    """Generate the key, store it encrypted, and record it; an existing key is never overwritten silently.

    ``stop`` (a flag object, truthy once the user pressed Stop) is looked at after the slow part:
    a cancelled generation saves nothing and leaves the profile as it was.
    """
    kind = keys.KeyType.parse(key_type) if isinstance(key_type, str) else key_type
    path = key_path(session, profile)
    if (profile.key_file or path.exists()) and not replace:
        raise KeyContainerError("exists", path=str(path))
    private = keys.generate_key(kind)
    if stop:
        return profile
    keys.save_key(path, private, session.secrets, _secret_name(profile), replace=replace)
    _remember_key(session, path, private)
    profile.key_type, profile.key_file, profile.key_source = kind.value, path.name, "generated"
    profile.extra["key_protection"] = session.secrets.backend_name  # where its passphrase lives: Done page, CLI
    if replace:  # a new key makes the request and the certificate for the old one useless
        profile.csr_pem, profile.certificate_chain_pem = "", []
    return session.profiles.save(profile, now=session.now())


def _remember_key(session: Session, path: Path, key) -> None:
    session.key_cache[str(path)] = (path.stat().st_mtime_ns, key)


def load_key(session: Session, profile: Profile):
    """The decrypted key, kept in memory for the session: each decryption costs 600,000 PBKDF2 rounds."""
    path = key_path(session, profile)
    if not profile.key_file:
        raise KeyContainerError("missing", path=str(path))
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    cached = session.key_cache.get(str(path))
    if cached is not None and cached[0] == stamp and stamp is not None:
        return cached[1]
    key = keys.load_key(path, session.secrets, _secret_name(profile)).key
    session.key_cache[str(path)] = (stamp, key)
    return key


def import_pkcs12(session: Session, profile: Profile, data: bytes, password: bytes | str | None, *,
                  replace: bool = False) -> "CertificateCheck":
    """A community that issues key + certificate: keep both (key re-encrypted under our policy)."""
    bundle = certs.load_certificates(data, password)
    if bundle.key is None:
        raise CertificateError("pkcs12_without_key")
    leaf = certs.find_leaf(bundle.certificates, bundle.key)
    chain = certs.order_chain(leaf, bundle.certificates)
    check = _check(session, profile, bundle.key, chain)
    path = key_path(session, profile)
    if (profile.key_file or path.exists()) and not replace:
        raise KeyContainerError("exists", path=str(path))
    keys.save_key(path, bundle.key, session.secrets, _secret_name(profile), cert=leaf, chain=chain[1:],
                  replace=replace)
    _remember_key(session, path, bundle.key)
    profile.key_type = keys.key_type_of(bundle.key).value
    profile.key_file, profile.key_source, profile.csr_pem = path.name, "pkcs12", ""
    profile.extra["key_protection"] = session.secrets.backend_name
    profile.certificate_chain_pem = [_pem(c) for c in chain]
    session.profiles.save(profile, now=session.now())
    check.saved = True
    return check


# ------------------------------------------------------------------ CSR

def subject_for(profile: Profile, overrides: dict[str, str | None] | None = None) -> csr.Subject:
    values: dict[str, Any] = {"common_name": profile.client_name, "organization": profile.org_name}
    values.update({k: v for k, v in (overrides or {}).items() if v})
    return csr.Subject(**values)


def create_csr(session: Session, profile: Profile, subject: dict[str, str | None] | None = None) -> str:
    """Build the CSR from the profile (client URI first SAN) and keep it in the profile."""
    private = load_key(session, profile)
    request = csr.build_csr(private, subject_for(profile, subject), [profile.client_uri])
    profile.csr_pem = csr.csr_pem(request)
    profile.extra["csr_subject"] = {k: v for k, v in (subject or {}).items() if v}
    session.profiles.save(profile, now=session.now())
    return profile.csr_pem


def openssl_commands(profile: Profile, subject: dict[str, str | None] | None = None) -> str:
    return csr.openssl_commands(subject_for(profile, subject), [profile.client_uri], profile.key_type or "rsa-3072")


# ------------------------------------------------------------------ certificate

@dataclass
class CertificateCheck:
    """The certificate step's report: blocking problems, warnings, one summary per cert, the trust rows."""

    problems: list[certs.Problem]
    summaries: list[dict[str, Any]]
    trust: dict[str, Any] | None = None
    saved: bool = False

    @property
    def blocking(self) -> list[certs.Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.blocking and (self.trust is None or bool(self.trust.get("ok")))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "saved": self.saved, "problems": [p.to_dict() for p in self.problems],
                "certificates": self.summaries, "trust": self.trust}


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _check(session: Session, profile: Profile, private, chain: Sequence[x509.Certificate],
           community: TrustCommunity | None = None) -> CertificateCheck:
    now = session.now()
    problems = certs.check_client_certificate(chain[0], private, profile.client_uri, now)
    summaries = [certs.summarize(c, now).to_dict() for c in chain]
    trust = None
    if community is not None:
        from app.core import http, trust as trust_mod

        if community.name == PRACTICE:
            ensure_practice_reachable(session)
        report = trust_mod.validate_chain(
            chain[0], list(chain[1:]) + community.intermediate_certificates(), community.anchor_certificates(),
            now=now, fetch=http.fetcher(session.http_policy(community), step="certificate"),
            # A fresh cache, not the session's: checking a certificate is when a revocation made
            # minutes ago must show (a CRL may otherwise be reused until its nextUpdate, days later).
            revocation=community.revocation, crl_cache=trust_mod.CrlCache())
        trust = report.to_dict()
    return CertificateCheck(problems=problems, summaries=summaries, trust=trust)


def import_certificate(session: Session, profile: Profile, blobs: Sequence[bytes], password: bytes | str | None = None,
                       *, community: str | None = None) -> CertificateCheck:
    """Import the CA's answer. Saved only when it is ours and usable; otherwise the old one stays."""
    if not blobs:
        raise CertificateError("empty")
    found: list[x509.Certificate] = []
    for blob in blobs:
        bundle = certs.load_certificates(blob, password)
        found.extend(bundle.certificates)
    private = load_key(session, profile)
    leaf = certs.find_leaf(found, private)
    chain = certs.order_chain(leaf, found)
    check = _check(session, profile, private, chain, _community_or_none(session, community or profile.community))
    if check.blocking:
        return check
    profile.certificate_chain_pem = [_pem(c) for c in chain]
    session.profiles.save(profile, now=session.now())
    check.saved = True
    return check


def profile_chain(profile: Profile) -> list[x509.Certificate]:
    if not profile.certificate_chain_pem:
        raise CertificateError("no_certificate_yet", profile=profile.name)
    return list(_parsed_chain(tuple(profile.certificate_chain_pem)))


@functools.lru_cache(maxsize=16)
def _parsed_chain(pems: tuple[str, ...]) -> tuple[x509.Certificate, ...]:
    """Parsed once per chain text (three times per journey before); certificates are immutable."""
    return tuple(x509.load_pem_x509_certificate(p.encode("ascii")) for p in pems)


def check_certificate(session: Session, profile: Profile, community: str | None = None) -> CertificateCheck:
    chain = profile_chain(profile)
    private = load_key(session, profile)
    return _check(session, profile, private, chain, _community_or_none(session, community or profile.community))


def _community_or_none(session: Session, name: str | None) -> TrustCommunity | None:
    if not name:
        return None
    try:
        return session.communities.get(name)
    except CommunityError:
        if name == PRACTICE:  # not created yet: the trust check waits until the practice CA exists
            return None
        raise


def ensure_practice_reachable(session: Session) -> None:
    """The practice CA's CRLs are served by its server: start it here unless another process serves them."""
    from app.core.errors import SandboxError

    try:
        session.practice.start()
    except SandboxError as exc:
        if exc.code != "http_port_in_use":  # `sandbox serve` in another terminal already serves them
            raise


def community(session: Session, name: str) -> TrustCommunity:
    return session.communities.get(name)


@dataclass
class AnchorPreview:
    """What a pasted or chosen trust anchor file holds, shown before anything is saved."""

    subject: str
    fingerprint: str
    is_ca: bool
    not_after: str


def read_anchors(blob: bytes, kind: str = "anchor") -> list[AnchorPreview]:
    """Certificates in an anchor file (PEM, DER or PKCS#7), so the user can compare the fingerprint first."""
    from app.core.community import certificate_fingerprint

    found = _anchor_certificates(blob, kind)
    return [AnchorPreview(subject=c.subject.rfc4514_string(), fingerprint=certificate_fingerprint(c),
                          is_ca=certs.is_ca(c), not_after=c.not_valid_after_utc.date().isoformat()) for c in found]


def _anchor_certificates(blob: bytes, kind: str) -> list[x509.Certificate]:
    try:
        return certs.load_certificates(blob).certificates
    except CertificateError as exc:
        if kind == "tls_anchor":
            raise CommunityError("tls_anchor_unreadable", index=0, reason=exc.code) from None
        raise CommunityError("anchor_unreadable", index=0, reason=exc.code) from None


def add_community(session: Session, name: str, uri: str, anchors: Sequence[bytes], *,
                  tls_anchors: Sequence[bytes] = (), servers: Sequence[str] = (),
                  expected_fingerprint: str | None = None, revocation: str = "hard",
                  replace: bool = False) -> TrustCommunity:
    """Add a trust community from the files its operator sent; the published fingerprint, when given, must match."""
    from app.core.community import normalize_fingerprint

    pem = serialization.Encoding.PEM
    anchor_certs = [c for blob in anchors for c in _anchor_certificates(blob, "anchor")]
    if expected_fingerprint is not None and expected_fingerprint.strip():
        from app.core.community import certificate_fingerprint

        wanted = normalize_fingerprint(expected_fingerprint)
        if len(wanted) != 95:  # 32 bytes as hex pairs with colons
            raise CommunityError("fingerprint_malformed", value=expected_fingerprint.strip()[:120])
        actual = [certificate_fingerprint(c) for c in anchor_certs]
        if wanted not in actual:
            raise CommunityError("anchor_fingerprint_mismatch", index=0, expected=wanted,
                                 actual=actual[0] if actual else "")
    tls_certs = [c for blob in tls_anchors for c in _anchor_certificates(blob, "tls_anchor")]
    community_ = TrustCommunity(name=name, uri=uri, anchors=[c.public_bytes(pem).decode() for c in anchor_certs],
                                tls_anchors=[c.public_bytes(pem).decode() for c in tls_certs],
                                servers=[s.strip() for s in servers if s.strip()], revocation=revocation)
    return session.communities.add(community_, replace=replace)


# ------------------------------------------------------------------ discovery, statement, registration, token

# register and request_token reuse a passed discovery this young (same server, community URI and
# anchors, signed metadata not expiring): the wizard discovers, registers and tests within minutes,
# and each discovery costs a TLS handshake, a signature and a chain + CRL check.
DISCOVERY_REUSE = timedelta(minutes=5)


def discover(session: Session, server: str, community_name: str, *, reuse: bool = False):
    """Fetch and check a server's metadata; with ``reuse`` a fresh passed report of this session may answer."""
    from app.core import discovery

    comm = session.communities.get(community_name)
    key, now = (server.strip(), comm.uri, tuple(comm.anchors)), session.now()
    found = session.discovered.get(key) if reuse else None
    if found is not None and _fresh(found, now):
        return found[1]
    report = discovery.discover(server, comm, session.http_policy(comm), now, crl_cache=session.crl_cache)
    session.discovery_reports.append(report)
    if report.ok:
        session.discovered[key] = (now, report)
    else:
        session.discovered.pop(key, None)
    return report


def _fresh(found: tuple, now: datetime) -> bool:
    when, report = found
    exp = report.metadata.signed_claims.get("exp") if report.metadata else None
    young = timedelta(0) <= now - when < DISCOVERY_REUSE
    return young and (not isinstance(exp, int) or now.timestamp() < exp - 60)


@dataclass
class StatementRequest:
    """What the user chose on the registration-details page."""

    grant: str = "client_credentials"
    scope: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    logo_uri: str | None = None


def _reads(scope: str) -> bool:
    """Read-only: SMART v1 ``.read`` or v2 ``.r`` / ``.rs`` (``.cruds`` also writes: not a default)."""
    perm = scope.rsplit(".", 1)[-1]
    return perm in ("read", "r", "rs")


def default_scope(metadata, profile: Profile, grant: str = "client_credentials") -> str:
    """The profile's scopes, else a read scope from the server's list: never a hard-coded one.

    client_credentials takes only system/ scopes (IG §3.1 with SMART): a server listing none (the
    Evernorth/Okta reference lists openid, fhirUser, email, profile, udap) makes the user choose,
    rather than registering a B2B client for "openid".
    """
    if profile.scopes:
        return " ".join(profile.scopes)
    supported = [s for s in (getattr(metadata, "scopes_supported", None) or []) if isinstance(s, str)]
    system = [s for s in supported if s.startswith("system/")]
    for pick in ([s for s in system if _reads(s) and "*" not in s], [s for s in system if _reads(s)], system):
        if pick:
            return pick[0]
    if grant == "client_credentials" and supported:
        raise InputError("no_system_scope", supported=supported)
    if supported:
        return supported[0]
    raise InputError("scope_required")


def statement_details(profile: Profile, request: StatementRequest, metadata):
    from app.core import statement

    scope = request.scope or default_scope(metadata, profile, request.grant)
    return statement.StatementDetails(client_uri=profile.client_uri, client_name=profile.client_name,
                                      contacts=list(profile.contacts), scope=scope, grant=request.grant,
                                      redirect_uris=list(request.redirect_uris), logo_uri=request.logo_uri)


def build_statement(session: Session, profile: Profile, metadata, request: StatementRequest | None = None, *,
                    cancel: bool = False):
    """Claims, lint and signature for one server; lint errors raise StatementError("lint_failed")."""
    from app.core import statement

    details = statement_details(profile, request or StatementRequest(), metadata)
    now = session.now()
    build = statement.build_cancel_claims if cancel else statement.build_claims
    claims = build(details, metadata.registration_endpoint, now=now)
    return statement.prepare_statement(claims, load_key(session, profile), profile_chain(profile),
                                       registration_endpoint=metadata.registration_endpoint, now=now,
                                       scopes_supported=None if cancel else metadata.scopes_supported,
                                       server_algs=metadata.registration_signing_algs)


def lint_statement(session: Session, profile: Profile, metadata, request: StatementRequest):
    """Findings only (for the live lint on the details page); nothing is signed."""
    from app.core import statement

    details = statement_details(profile, request, metadata)
    claims = statement.build_claims(details, metadata.registration_endpoint, now=session.now())
    chain = profile_chain(profile)
    return statement.lint(claims, now=session.now(), registration_endpoint=metadata.registration_endpoint,
                          scopes_supported=metadata.scopes_supported, leaf=chain[0], client_uri=profile.client_uri,
                          server_algs=metadata.registration_signing_algs)


@dataclass
class ServerOutcome:
    """One server's registration result as the CLI and the pages show it."""

    server: str
    outcome: str
    client_id: str | None = None
    http_status: int | None = None
    error: str | None = None
    explanation: dict[str, Any] | None = None
    granted: dict[str, Any] = field(default_factory=dict)
    diff: list[dict[str, Any]] = field(default_factory=list)
    discovery: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("registered", "modified", "cancelled")

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "outcome": self.outcome, "client_id": self.client_id,
                "http_status": self.http_status, "error": self.error, "explanation": self.explanation,
                "granted": self.granted, "diff": self.diff}


def register(session: Session, profile: Profile, servers: Sequence[str], community_name: str | None = None, *,
             cancel: bool = False, request: StatementRequest | None = None,
             max_workers: int = REGISTER_POOL) -> list[ServerOutcome]:
    """Discover, then register (or modify, or cancel) with every server concurrently; one row each."""
    from concurrent.futures import ThreadPoolExecutor

    community_name = community_name or profile.community
    comm = session.communities.get(community_name)
    chain = profile_chain(profile)
    fingerprint = certs.fingerprint(chain[0])
    def one(server: str) -> ServerOutcome:
        try:
            return _register_one(session, profile, server, comm, cancel, request, fingerprint)
        except Exception as exc:  # one server's bug must not take the other rows down with it
            from app.core.errors import UdapOnboardError

            detail = exc.to_dict() if isinstance(exc, UdapOnboardError) else \
                {"domain": "registration", "code": "internal_error", "fields": {"type": type(exc).__name__}}
            return ServerOutcome(server=server, outcome="error", error=detail["code"], explanation=detail)

    if len(servers) == 1:  # the usual case: no pool thread to start
        rows = [one(servers[0])]
    else:
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(servers))),
                                thread_name_prefix="udap-server") as pool:
            rows = list(pool.map(one, servers))
    for row, server in zip(rows, servers):  # remember servers that answered, not typos
        if (row.ok or row.http_status is not None) and server not in profile.servers:
            profile.servers.append(server)
    session.profiles.save(profile, now=session.now())
    return rows


def _register_one(session: Session, profile: Profile, server: str, comm: TrustCommunity, cancel: bool,
                  request: StatementRequest | None, fingerprint: str) -> ServerOutcome:
    from app.core import registration
    from app.core.errors import UdapOnboardError

    report = discover(session, server, comm.name, reuse=True)
    if not report.ok:
        err = report.error
        return ServerOutcome(server=server, outcome="error", error=err.code if err else "discovery_failed",
                             explanation=err.to_dict() if err else None, discovery=report.to_dict())
    meta = report.metadata
    record = profile.registration_for(meta.registration_endpoint, comm.uri, profile.client_uri)
    refusal = profile.extra.get("refusals", {}).get(meta.registration_endpoint + "|" + comm.uri)
    if not cancel and refusal and not registration.may_retry(refusal, fingerprint):
        return ServerOutcome(server=server, outcome="rejected", error="unapproved_software_statement",
                             explanation={"domain": "registration", "code": "no_retry_same_certificate",
                                          "fields": {"server": server}})
    try:
        signed = build_statement(session, profile, meta, request, cancel=cancel)
        result = registration.register(meta.registration_endpoint, signed, policy=session.http_policy(comm),
                                       community=comm.uri, now=session.now(),
                                       previous_client_id=record.get("client_id") if record else None)
    except UdapOnboardError as exc:
        skew = report.skew_seconds  # server minus ours, from discovery a moment ago
        if skew is not None and skew <= -CLOCK_HINT_SECONDS and exc.domain == "registration":
            exc.fields["hints"] = [*(exc.fields.get("hints") or []), "clock_ahead_of_server"]
            exc.fields["skew"] = round(-skew)
        status = exc.fields.get("status")
        outcome = "rejected" if isinstance(status, int) and 400 <= status < 500 else "error"
        if exc.fields.get("retry_with_same_certificate") is False:
            profile.extra.setdefault("refusals", {})[meta.registration_endpoint + "|" + comm.uri] = \
                registration.to_record(exc, session.now())
        return ServerOutcome(server=server, outcome=outcome, http_status=status if isinstance(status, int) else None,
                             error=exc.fields.get("error") or exc.code, explanation=exc.to_dict())
    session.registration_results.append(result)
    result.certificate_fingerprint = result.certificate_fingerprint or fingerprint
    if result.outcome == "cancelled":
        profile.forget_registration(meta.registration_endpoint, comm.uri, profile.client_uri)
    else:
        rec = registration.to_record(result, session.now())
        rec.update(server=server, token_endpoint=meta.token_endpoint, community_name=comm.name)
        profile.record_registration(meta.registration_endpoint, comm.uri, profile.client_uri, rec)
        profile.extra.get("refusals", {}).pop(meta.registration_endpoint + "|" + comm.uri, None)
    return ServerOutcome(server=server, outcome=result.outcome, client_id=result.client_id,
                         http_status=result.http_status, granted=result.granted, diff=result.diff)


@dataclass
class AccessTest:
    token: Any
    fhir: Any

    @property
    def ok(self) -> bool:
        return self.fhir is None or self.fhir.ok

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "token": self.token.to_dict(), "fhir": self.fhir.to_dict() if self.fhir else None}


def registration_for_server(profile: Profile, server: str) -> dict[str, Any]:
    for rec in profile.registrations.values():
        if rec.get("server") == server and rec.get("client_id"):
            return rec
    raise ProfileError("not_registered", server=server, profile=profile.name)


def request_token(session: Session, profile: Profile, server: str, fhir_path: str | None = "metadata", *,
                  scope: str | None = None, purpose_of_use: Sequence[str] | None = None) -> AccessTest:
    """Token with a fresh assertion (discovery first: the signed token endpoint is the aud), then one FHIR GET."""
    from app.core import token as token_mod

    rec = registration_for_server(profile, server)
    report = discover(session, server, rec.get("community_name") or profile.community, reuse=True)
    meta = report.raise_for_failure()
    comm = session.communities.get(rec.get("community_name") or profile.community)
    policy = session.http_policy(comm)
    granted_scope = scope or rec.get("granted", {}).get("scope") or default_scope(meta, profile)
    b2b = token_mod.B2BExtension(organization_id=profile.org_id, organization_name=profile.org_name,
                                 **({"purpose_of_use": list(purpose_of_use)} if purpose_of_use else {}))
    result = token_mod.request_token(meta.token_endpoint, client_id=rec["client_id"], key=load_key(session, profile),
                                     chain=profile_chain(profile), scope=granted_scope, b2b=b2b, policy=policy,
                                     server_algs=meta.token_signing_algs, now=session.now())
    session.token_results.append(result.to_dict())
    fhir = token_mod.call_fhir(server, result, policy=policy, path=fhir_path) if fhir_path else None
    profile.record_token_test(rec["client_id"], meta.token_endpoint, now=session.now())
    session.profiles.save(profile, now=session.now())
    return AccessTest(token=result, fhir=fhir)


def export_evidence(session: Session, profile: Profile, out: str | Path) -> Path:
    from app.core import evidence

    now = session.now()
    chain = profile_chain(profile) if profile.certificate_chain_pem else []
    summary = {"profile": profile.name, "organization": profile.org_name, "client_name": profile.client_name,
               "client_uri": profile.client_uri, "community": profile.community,
               "registrations": list(profile.registrations.values()), "token_test": profile.token_test,
               "token_results": list(session.token_results)}
    return evidence.export_evidence(out, profile_summary=summary, trail=session.audit,
                                    discovery_reports=[r.to_dict() for r in session.discovery_reports],
                                    registration_results=[r.to_dict() for r in session.registration_results],
                                    certificates=chain, now=now)


def issue_practice_certificate(session: Session, profile: Profile) -> CertificateCheck:
    """The practice CA signs the profile's CSR (made now if missing); the answer is imported and checked."""
    from app.sandbox.practice import NAME

    if not profile.csr_pem:
        create_csr(session, profile)
    practice = session.practice
    practice.start()
    ca = practice.ca()
    request = x509.load_pem_x509_csr(profile.csr_pem.encode("ascii"))
    cert = ca.issue_from_csr(request, now=session.now())
    profile.community = NAME
    profile.community_uri = practice.community().uri
    blobs = [_pem(c).encode("ascii") for c in (cert, ca.intermediate_cert)]
    return import_certificate(session, profile, blobs, community=NAME)
