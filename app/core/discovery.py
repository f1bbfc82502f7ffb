"""UDAP discovery (IG §2): fetch ``/.well-known/udap`` and validate ``signed_metadata`` (D-V1 … D-V10).

The result is a report with one row per check, so the wizard and the CLI can show *which* check
failed and why. Any failed row stops the flow: ``metadata`` is only set when every check passed,
and then carries the *signed* endpoint values (IG §2.3: they take precedence).
Server-caused failures never raise; they are rows (the first one carries transport errors).
"""

from __future__ import annotations

import base64
import binascii
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from cryptography import x509

from app.core import http, jose, jsonlimits
from app.core.certs import fingerprint, first_difference, san_uris
from app.core.errors import DiscoveryError, JwsError, UdapOnboardError
from app.core.trust import validate_chain

LEEWAY_SECONDS = 60
MAX_LIFETIME_SECONDS = 366 * 24 * 3600
CLIENT_ALGS = ("RS256", "RS384", "ES256", "ES384")
TOLERATED_ALGS = ("ES256", "ES384")  # IG §7.1.2 permits them; §2.3 says RS256 (ambiguity A2)
PRODUCIBLE_EXTENSIONS = ("hl7-b2b",)
JWT_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti")
WELL_KNOWN = "/.well-known/udap"


@dataclass
class CheckRow:
    """One check: ``id`` from requirements §1 (D1, D-V1 … D-V10, CLOCK), a stable ``reason`` code."""

    id: str
    title: str
    status: str  # "pass" | "fail" | "warning"
    reason: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status, "reason": self.reason,
                "detail": dict(self.detail)}


@dataclass
class ServerMetadata:
    """Validated metadata; endpoints are the signed values and are used verbatim as ``aud``."""

    base_url: str
    community_uri: str | None
    token_endpoint: str
    registration_endpoint: str
    authorization_endpoint: str | None
    endpoints: dict[str, str]
    scopes_supported: list[str] | None
    grant_types_supported: list[str]
    token_signing_algs: list[str]
    registration_signing_algs: list[str]
    profiles: list[str]
    extensions_supported: list[str]
    extensions_required: list[str]
    certifications_supported: list[str]
    signing_certificate_fingerprint: str
    signed_claims: dict[str, Any]
    raw: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DiscoveryReport:
    base_url: str
    community_uri: str | None
    rows: list[CheckRow] = field(default_factory=list)
    metadata: ServerMetadata | None = None
    skew_seconds: float | None = None
    error: UdapOnboardError | None = None  # the first failure, typed, for ui/feedback.describe

    @property
    def ok(self) -> bool:
        return self.metadata is not None and not self.failures

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if r.status == "fail"]

    @property
    def warnings(self) -> list[CheckRow]:
        return [r for r in self.rows if r.status == "warning"]

    def row(self, check_id: str, status: str | None = None) -> CheckRow | None:
        """The first row with this id (and status); handy for callers and tests."""
        return next((r for r in self.rows if r.id == check_id and status in (None, r.status)), None)

    def raise_for_failure(self) -> ServerMetadata:
        if self.ok:
            return self.metadata  # type: ignore[return-value]
        raise self.error or DiscoveryError("rejected", base_url=self.base_url)

    def to_dict(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "community_uri": self.community_uri, "ok": self.ok,
                "skew_seconds": self.skew_seconds, "rows": [r.to_dict() for r in self.rows],
                "error": self.error.to_dict() if self.error else None,
                "metadata": self.metadata.to_dict() if self.metadata else None}


class _Rows:
    def __init__(self, report: DiscoveryReport) -> None:
        self.report = report

    def add(self, check_id: str, title: str, status: str, reason: str = "ok", /, *, _error=None, **detail) -> bool:
        self.report.rows.append(CheckRow(check_id, title, status, reason, detail))
        if status == "fail" and self.report.error is None:
            self.report.error = _error or DiscoveryError(reason, check=check_id, **detail)
        return status != "fail"

    def stop(self, check_id: str, title: str, reason: str, /, **detail) -> None:
        """A failed row after which the remaining signed-metadata checks cannot run."""
        self.add(check_id, title, "fail", reason, **detail)


def _difference(expected: str, actual: str) -> dict[str, Any]:
    i = first_difference(expected, actual)
    kind = ("trailing_slash" if expected.rstrip("/") == actual.rstrip("/") else
            "case" if expected.lower() == actual.lower() else "other")
    return {"expected": expected, "actual": actual, "position": i, "kind": kind,
            "expected_char": expected[i] if i < len(expected) else None,
            "actual_char": actual[i] if i < len(actual) else None}


def _anchors(community) -> list[x509.Certificate]:
    if hasattr(community, "anchor_certificates"):
        return list(community.anchor_certificates())
    return [a if isinstance(a, x509.Certificate) else x509.load_pem_x509_certificate(a.encode() if isinstance(a, str) else a)
            for a in getattr(community, "anchors", ())]


def _peek_header(part: str) -> dict[str, Any] | None:
    try:
        value = jsonlimits.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _base_url_problem(base: str) -> str | None:
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "not_absolute"
    if parts.query or parts.fragment:
        return "has_query_or_fragment"
    return None


def discover(base_url: str, community, policy: http.HttpPolicy, now: datetime | None = None, *,
             fetch: Callable[[str, str], bytes] | None = None, client_algs: Sequence[str] = CLIENT_ALGS,
             grant_type: str = "client_credentials", crl_cache=None) -> DiscoveryReport:
    """GET {base}/.well-known/udap?community=… and run every check; never raises for server faults."""
    now = now or datetime.now(timezone.utc)
    with policy.audit.step("discovery") if policy.audit is not None else nullcontext():  # CRL fetches too
        return _discover(base_url, community, policy, now, fetch, client_algs, grant_type, crl_cache)


def _discover(base_url, community, policy, now, fetch, client_algs, grant_type, crl_cache) -> DiscoveryReport:
    base = base_url.strip()
    uri = getattr(community, "uri", None) or None
    report = DiscoveryReport(base_url=base, community_uri=uri)
    rows = _Rows(report)
    title = "Fetch /.well-known/udap"
    problem = _base_url_problem(base)
    if problem:
        rows.add("D1", title, "fail", "bad_base_url", base_url=base, problem=problem)
        return report
    url = base.rstrip("/") + WELL_KNOWN
    try:
        exchange = http.get_json(policy, url, params={"community": uri} if uri else None, expect=(200, 204, 404))
    except UdapOnboardError as exc:
        rows.add("D1", title, "fail", exc.code, _error=exc, **exc.fields)
        return report
    if exchange.status == 404:
        rows.add("D1", title, "fail", "no_udap", url=exchange.url)
        return report
    if exchange.status == 204:
        rows.add("D1", title, "fail", "not_for_community", url=exchange.url, community=uri)
        return report
    rows.add("D1", title, "pass", url=exchange.url, status=exchange.status)
    report.skew_seconds = exchange.skew_seconds
    if exchange.skew_seconds is not None:
        skew = exchange.skew_seconds
        rows.add("CLOCK", "Our clock agrees with the server's Date header",
                 "warning" if exchange.clock_warning else "pass",
                 "clock_skew" if exchange.clock_warning else "ok", skew_seconds=skew,
                 limit_seconds=http.CLOCK_WARN_SECONDS)
    unsigned = exchange.data
    signed = _check_signed(unsigned, base, community, policy, now, fetch, crl_cache, rows)
    effective = dict(unsigned)
    if signed is not None:
        effective.update({k: v for k, v in signed[0].items() if k not in JWT_CLAIMS})
    failed = list(dict.fromkeys(r.id for r in report.rows if r.status == "fail" and r.id.startswith("D-V")))
    rows.add("D-V9", "Signed metadata accepted", "fail" if failed else "pass",
             "signed_metadata_rejected" if failed else "ok", failed_checks=failed)
    _check_shape(effective, rows, client_algs, grant_type)
    if not report.failures and signed is not None:
        report.metadata = _metadata(base, uri, unsigned, effective, *signed)
    return report


def _check_signed(unsigned: dict, base: str, community, policy, now: datetime, fetch, crl_cache,
                  rows: _Rows) -> tuple[dict[str, Any], x509.Certificate] | None:
    """D-V1 … D-V8; returns (claims, signing certificate) when the signature verified."""
    t1 = "signed_metadata is a compact JWS with an asymmetric alg"
    token = unsigned.get("signed_metadata")
    if token is None:
        legacy = "signed_endpoints" in unsigned
        return rows.stop("D-V1", t1, "legacy_signed_endpoints" if legacy else "signed_metadata_missing")
    if not isinstance(token, str):
        return rows.stop("D-V1", t1, "signed_metadata_not_string", json_type=type(token).__name__)
    parts = token.strip().split(".")
    header = _peek_header(parts[0]) if len(parts) == 3 else None
    if header is None:
        return rows.stop("D-V1", t1, "malformed", parts=len(parts))
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        return rows.stop("D-V1", t1, "alg_missing")
    if alg.lower() == "none" or alg.upper().startswith("HS"):
        return rows.stop("D-V1", t1, "alg_forbidden", alg=alg)
    t2 = "x5c holds standard-base64 DER certificates"
    try:
        decoded = jose.decode(token)
    except JwsError as exc:
        if not exc.code.startswith("x5c"):
            return rows.stop("D-V1", t1, exc.code, **exc.fields)
        rows.add("D-V1", t1, "pass", alg=alg)
        return rows.stop("D-V2", t2, exc.code, **exc.fields)
    rows.add("D-V1", t1, "pass", alg=alg)
    if not decoded.certificates:
        return rows.stop("D-V2", t2, "x5c_missing")
    rows.add("D-V2", t2, "pass", certificates=len(decoded.certificates))
    t3 = "alg is RS256"
    if alg == "RS256":
        rows.add("D-V3", t3, "pass", alg=alg)
    elif alg in TOLERATED_ALGS:
        rows.add("D-V3", t3, "warning", "alg_not_rs256", alg=alg)
    else:
        return rows.stop("D-V3", t3, "alg_not_allowed", alg=alg, allowed=["RS256", *TOLERATED_ALGS])
    try:
        jose.verify(decoded, [alg])
    except JwsError as exc:
        return rows.stop("D-V4", "Signature verifies with x5c[0]", exc.code, **exc.fields)
    rows.add("D-V4", "Signature verifies with x5c[0]", "pass")
    leaf = decoded.certificates[0]
    _check_chain(leaf, decoded.certificates[1:], community, policy, now, fetch, crl_cache, rows)
    claims = decoded.claims
    _check_times(claims, now, rows)
    _check_identity(claims, base, leaf, rows)
    _check_endpoints(unsigned, claims, policy, rows)
    return claims, leaf


def _check_chain(leaf, given, community, policy, now, fetch, crl_cache, rows: _Rows) -> None:
    title = "Signing certificate chains to the community anchor, not revoked"
    extra = list(community.intermediate_certificates()) if hasattr(community, "intermediate_certificates") else []
    try:
        trust = validate_chain(leaf, list(given) + extra, _anchors(community), now=now,
                               fetch=fetch or http.fetcher(policy), revocation=getattr(community, "revocation", "hard"),
                               crl_cache=crl_cache)
    except UdapOnboardError as exc:
        return rows.stop("D-V5", title, exc.code, _error=exc, **exc.fields)
        return
    table = [r.to_dict() for r in trust.rows]
    bad = [r for r in trust.rows if r.status == "error"]
    if not trust.ok:
        culprit = bad[0] if bad else None
        rows.add("D-V5", title, "fail", culprit.reason if culprit else "untrusted_chain",
                 certificate=culprit.subject if culprit else leaf.subject.rfc4514_string(), trust=table)
    elif trust.rows_with("warning"):
        rows.add("D-V5", title, "warning", trust.rows_with("warning")[0].reason, trust=table)
    else:
        rows.add("D-V5", title, "pass", trust=table)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_times(claims: dict, now: datetime, rows: _Rows) -> None:
    title = "iss, sub, exp, iat, jti present with the right types"
    missing = [c for c in ("iss", "sub", "exp", "iat", "jti") if c not in claims]
    wrong = [c for c in ("iss", "sub", "jti") if c in claims and not (isinstance(claims[c], str) and claims[c])]
    wrong += [c for c in ("exp", "iat") if c in claims and not _is_int(claims[c])]
    if missing:
        rows.add("D-V6", title, "fail", "claim_missing", claims=missing)
    elif wrong:
        rows.add("D-V6", title, "fail", "claim_type", claims=wrong)
    else:
        rows.add("D-V6", title, "pass")
    ts = int(now.timestamp())
    exp, iat = claims.get("exp"), claims.get("iat")
    if _is_int(exp):
        ok = ts < exp + LEEWAY_SECONDS
        rows.add("D-V6", "Not expired (60 s leeway)", "pass" if ok else "fail", "ok" if ok else "expired",
                 exp=exp, now=ts, leeway=LEEWAY_SECONDS)
    if _is_int(iat):
        ok = iat <= ts + LEEWAY_SECONDS
        rows.add("D-V6", "Not issued in the future (60 s leeway)", "pass" if ok else "fail",
                 "ok" if ok else "issued_in_future", iat=iat, now=ts, leeway=LEEWAY_SECONDS)
    if _is_int(exp) and _is_int(iat) and exp - iat > MAX_LIFETIME_SECONDS:
        rows.add("D-V6", "Lifetime at most one year", "warning", "lifetime_over_one_year", seconds=exp - iat)


def _check_identity(claims: dict, base: str, leaf: x509.Certificate, rows: _Rows) -> None:
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str):
        return  # already reported by D-V6
    if iss == base:
        rows.add("D-V7", "iss equals the base URL exactly", "pass", iss=iss)
    else:
        rows.add("D-V7", "iss equals the base URL exactly", "fail", "iss_not_base_url", **_difference(base, iss))
    sans = san_uris(leaf)
    if iss in sans:
        rows.add("D-V7", "iss is a URI SAN of the signing certificate", "pass")
    else:
        closest = min(sans, key=lambda s: -first_difference(s, iss)) if sans else None
        rows.add("D-V7", "iss is a URI SAN of the signing certificate", "fail", "iss_not_in_san", iss=iss,
                 san_uris=sans, **({"position": first_difference(closest, iss), "closest": closest} if closest else {}))
    if sub == iss:
        rows.add("D-V7", "sub equals iss", "pass")
    else:
        rows.add("D-V7", "sub equals iss", "fail", "sub_not_iss", iss=iss, sub=sub if isinstance(sub, str) else None)


def _endpoint_url_ok(value: str, policy) -> bool:
    try:
        http.check_url(value, allow_insecure_loopback=policy.allow_insecure_loopback)
    except UdapOnboardError:
        return False
    return True


def _check_endpoints(unsigned: dict, claims: dict, policy, rows: _Rows) -> None:
    title = "token_endpoint and registration_endpoint are signed"
    missing = [n for n in ("token_endpoint", "registration_endpoint") if not isinstance(claims.get(n), str)]
    if missing:
        rows.add("D-V8", title, "fail", "claim_missing", claims=missing)
    else:
        rows.add("D-V8", title, "pass")
    title = "Every unsigned endpoint equals its signed value"
    names = sorted(k for k in unsigned if k.endswith("_endpoint") and k not in missing)
    problem = None
    for name in names:
        if name not in claims:
            problem = ("endpoint_not_signed", {"endpoint": name, "unsigned": unsigned[name]})
        elif claims[name] != unsigned[name]:
            u, s = str(unsigned[name]), str(claims[name])
            problem = ("endpoint_mismatch", {"endpoint": name, "unsigned": u, "signed": s,
                                             "position": first_difference(u, s)})
        if problem:
            break
    rows.add("D-V8", title, "fail" if problem else "pass", problem[0] if problem else "ok",
             **(problem[1] if problem else {"endpoints": names}))
    signed = {k: v for k, v in claims.items() if k.endswith("_endpoint")}
    bad = sorted(k for k, v in signed.items() if not (isinstance(v, str) and _endpoint_url_ok(v, policy)))
    rows.add("D-V8", "Signed endpoints are https URLs", "fail" if bad else "pass",
             "endpoint_not_https" if bad else "ok", **({"endpoint": bad[0], "value": str(signed[bad[0]])} if bad else {}))


def _str_list(meta: dict, name: str, rows: _Rows, title: str, required: bool = True) -> list[str] | None:
    value = meta.get(name)
    if value is None:  # absent: a failure only when required (conditional elements may be left out)
        if required:
            rows.add("D-V10", title, "fail", "element_missing", element=name)
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        rows.add("D-V10", title, "fail", "element_type", element=name, expected="array of strings")
        return None
    return value


def _check_shape(meta: dict, rows: _Rows, client_algs: Sequence[str], grant_type: str) -> None:
    """D-V10: the structural checks of requirements §1.3 (an empty array means "not supported")."""
    def check(title: str, name: str, problem, required: bool = True) -> list[str] | None:
        values = _str_list(meta, name, rows, title, required)
        if values is not None:  # problem(values) -> None for a pass, or (status, reason, detail)
            status, reason, detail = problem(values) or ("pass", "ok", {})
            rows.add("D-V10", title, status, reason, **detail)
        return values

    def lacks(needed: str, reason: str, **detail):
        return lambda v: None if needed in v else ("fail", reason, {"offered": v, **detail})

    check('udap_versions_supported contains "1"', "udap_versions_supported", lacks("1", "udap_version_unsupported"))
    grants = check("grant_types_supported offers our grant", "grant_types_supported",
                   lacks(grant_type, "grant_type_not_supported", wanted=grant_type)) or []

    def profiles(v):
        missing = [p for p in ("udap_dcr", "udap_authn") if p not in v]
        if missing:
            return "fail", "profile_missing", {"missing": missing, "offered": v}
        if "client_credentials" in grants and "udap_authz" not in v:
            return "warning", "udap_authz_missing", {"offered": v}
        return None

    check("udap_profiles_supported has udap_dcr, udap_authn (udap_authz with client_credentials)",
          "udap_profiles_supported", profiles)
    check("token_endpoint_auth_methods_supported has private_key_jwt", "token_endpoint_auth_methods_supported",
          lacks("private_key_jwt", "private_key_jwt_missing"))
    for name in ("token_endpoint_auth_signing_alg_values_supported",
                 "registration_endpoint_jwt_signing_alg_values_supported"):
        check(f"{name} shares an algorithm with our key", name, lambda v, name=name: None if set(v) & set(client_algs)
              else ("fail", "no_common_algorithm", {"element": name, "ours": list(client_algs), "offered": v}))
    if "scopes_supported" in meta:
        check("scopes_supported present", "scopes_supported", lambda v: None)
    else:
        rows.add("D-V10", "scopes_supported present", "warning", "scopes_supported_missing")
    title = "Required authorization extensions are ones we can produce"
    supported = _str_list(meta, "udap_authorization_extensions_supported", rows, title) or []  # IG: required
    required = _str_list(meta, "udap_authorization_extensions_required", rows, title, required=False) or []
    unknown = [e for e in required if e not in PRODUCIBLE_EXTENSIONS]
    if unknown:
        rows.add("D-V10", title, "fail", "extension_unsupported", unsupported=unknown,
                 producible=list(PRODUCIBLE_EXTENSIONS))
    elif grant_type == "client_credentials" and "hl7-b2b" not in supported:
        rows.add("D-V10", title, "warning", "hl7_b2b_not_listed", supported=supported)
    else:
        rows.add("D-V10", title, "pass", required=required)
    check("No certification is required", "udap_certifications_required",
          lambda v: ("fail", "certifications_required", {"certifications": v}) if v else None, required=False)


def _metadata(base: str, uri: str | None, unsigned: dict, effective: dict, claims: dict,
              leaf: x509.Certificate) -> ServerMetadata:
    endpoints = {k: v for k, v in claims.items() if k.endswith("_endpoint") and isinstance(v, str)}
    listed = lambda name: list(effective.get(name) or [])  # noqa: E731
    return ServerMetadata(
        base_url=base, community_uri=uri, token_endpoint=endpoints["token_endpoint"],
        registration_endpoint=endpoints["registration_endpoint"],
        authorization_endpoint=endpoints.get("authorization_endpoint"), endpoints=endpoints,
        scopes_supported=list(effective["scopes_supported"]) if "scopes_supported" in effective else None,
        grant_types_supported=listed("grant_types_supported"),
        token_signing_algs=listed("token_endpoint_auth_signing_alg_values_supported"),
        registration_signing_algs=listed("registration_endpoint_jwt_signing_alg_values_supported"),
        profiles=listed("udap_profiles_supported"), extensions_supported=listed("udap_authorization_extensions_supported"),
        extensions_required=listed("udap_authorization_extensions_required"),
        certifications_supported=listed("udap_certifications_supported"),
        signing_certificate_fingerprint=fingerprint(leaf),
        signed_claims=dict(claims), raw=dict(unsigned))
