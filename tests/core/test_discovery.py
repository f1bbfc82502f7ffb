import base64
import datetime as dt
import json
from dataclasses import dataclass
from email.utils import format_datetime
from types import SimpleNamespace

import httpx
import pytest
from cryptography import x509

from app.core import jose
from app.core.discovery import DiscoveryReport, discover
from app.core.errors import DiscoveryError, NetworkError
from app.core.evidence import AuditTrail
from app.core.http import HttpPolicy
from tests.pki import NOW, cached_key, make_ca, make_community, make_leaf

BASE = "https://fhir.example.org/r4"
COMMUNITY = "udap://community.example/"
TOKEN = "https://as.example.org/oauth/token"
REG = "https://as.example.org/oauth/register"
TS = int(NOW.timestamp())


@dataclass
class FakeCommunity:
    uri: str
    anchors: list
    revocation: str = "hard"

    def anchor_certificates(self):
        return [x509.load_pem_x509_certificate(p.encode()) for p in self.anchors]


@pytest.fixture(scope="module")
def pki():
    return make_community(san_uris=[BASE])


@pytest.fixture(scope="module")
def community(pki):
    return FakeCommunity(COMMUNITY, [pki.root.pem.decode()])


def claims(**over):
    c = {"iss": BASE, "sub": BASE, "iat": TS - 60, "exp": TS + 300, "jti": "jti-1", "token_endpoint": TOKEN,
         "registration_endpoint": REG}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def sign(pki, claim_set=None, alg=None, chain=None):
    chain = [pki.leaf.cert, pki.intermediate.cert] if chain is None else chain
    return jose.sign(claim_set or claims(), pki.leaf.key, chain, alg=alg)


def metadata(signed, **over):
    m = {"udap_versions_supported": ["1"], "udap_profiles_supported": ["udap_dcr", "udap_authn", "udap_authz"],
         "udap_authorization_extensions_supported": ["hl7-b2b"],
         "udap_authorization_extensions_required": ["hl7-b2b"], "udap_certifications_supported": [],
         "udap_certifications_required": [], "grant_types_supported": ["client_credentials"],
         "scopes_supported": ["system/*.read", "system/Patient.read"], "token_endpoint": TOKEN,
         "registration_endpoint": REG, "token_endpoint_auth_methods_supported": ["private_key_jwt"],
         "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES384"],
         "registration_endpoint_jwt_signing_alg_values_supported": ["RS256", "ES384"], "signed_metadata": signed}
    m.update(over)
    return {k: v for k, v in m.items() if v is not None}


def b64url(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header, claim_set, sig="c2lnbmF0dXJlLW9mLW5vYm9keQ"):
    return f"{b64url(header)}.{b64url(claim_set)}.{sig}"


def serve(body, status=200, date=NOW, seen=None, **headers):
    def handler(request):
        if seen is not None:
            seen.append(request)
        if status in (204, 404):
            return httpx.Response(status)
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body, headers={"Date": format_datetime(date, usegmt=True), **headers})
        return httpx.Response(status, content=body, headers=headers)
    return HttpPolicy(transport=httpx.MockTransport(handler), audit=AuditTrail(), clock=lambda: NOW)


def run(pki, community, body, **kw) -> DiscoveryReport:
    policy = kw.pop("policy", None) or serve(body)
    report = discover(BASE, community, policy, now=kw.pop("now", NOW), fetch=kw.pop("fetch", pki.fetcher()), **kw)
    json.dumps(report.to_dict())  # always JSON-safe for the evidence bundle
    return report


def assert_rejected(report, check_id, reason):
    assert not report.ok and report.metadata is None
    row = next((r for r in report.rows if r.id == check_id and r.status == "fail" and r.reason == reason), None)
    assert row is not None, [(r.id, r.status, r.reason) for r in report.rows]
    assert report.error is not None
    return row


# ---- the good path --------------------------------------------------------------------------------

def test_valid_metadata(pki, community):
    seen = []
    policy = serve(metadata(sign(pki)), seen=seen)
    fetch = pki.fetcher()
    report = run(pki, community, None, policy=policy, fetch=fetch)
    assert report.ok, [(r.id, r.status, r.reason, r.detail) for r in report.rows if r.status != "pass"]
    assert all(r.status == "pass" for r in report.rows)
    assert {r.id for r in report.rows} >= {"D1", "CLOCK", *(f"D-V{i}" for i in range(1, 11))}
    assert seen[0].url.path == "/r4/.well-known/udap"
    assert seen[0].url.query == b"community=udap%3A%2F%2Fcommunity.example%2F"
    md = report.metadata
    assert (md.token_endpoint, md.registration_endpoint, md.base_url) == (TOKEN, REG, BASE)
    assert md.community_uri == COMMUNITY and md.scopes_supported == ["system/*.read", "system/Patient.read"]
    assert md.token_signing_algs == ["RS256", "ES384"] and "udap_authz" in md.profiles
    assert len(md.signing_certificate_fingerprint.split(":")) == 32
    assert any(u.endswith(".crl") for u in fetch.calls)  # revocation was checked
    assert report.raise_for_failure() is md
    assert [e.step for e in policy.audit.entries] == ["discovery"]


def test_revocation_fetched_through_the_http_policy(pki, community):
    files = pki.files(NOW)
    served = []

    def handler(request):
        url = str(request.url).split("?")[0]
        served.append(url)
        if url in files:
            return httpx.Response(200, content=files[url], headers={"Content-Type": "application/pkix-crl"})
        return httpx.Response(200, json=metadata(sign(pki)))

    policy = HttpPolicy(transport=httpx.MockTransport(handler), audit=AuditTrail(), clock=lambda: NOW)
    report = discover(BASE, community, policy, now=NOW)  # no fetch=: CRLs come over (plain) http via the policy
    assert report.ok
    assert any(u.startswith("http://pki.test/") and u.endswith(".crl") for u in served)
    assert all(e.step == "discovery" for e in policy.audit.entries) and len(policy.audit.entries) == len(served)


def test_signed_values_take_precedence(pki, community):
    signed = sign(pki, claims(authorization_endpoint="https://as.example.org/authorize",
                              scopes_supported=["system/Observation.read"]))
    report = run(pki, community, metadata(signed))
    assert report.ok
    assert report.metadata.authorization_endpoint == "https://as.example.org/authorize"
    assert report.metadata.scopes_supported == ["system/Observation.read"]


def test_es256_accepted_with_warning(community):
    ec = make_community(san_uris=[BASE], leaf_key=cached_key("p256"))
    comm = FakeCommunity(COMMUNITY, [ec.root.pem.decode()])
    report = run(ec, comm, metadata(sign(ec)))
    assert report.ok
    row = report.row("D-V3")
    assert (row.status, row.reason, row.detail["alg"]) == ("warning", "alg_not_rs256", "ES256")


def test_leeway_boundaries_pass(pki, community):
    report = run(pki, community, metadata(sign(pki, claims(exp=TS - 59, iat=TS + 59))))
    assert report.ok


def test_community_without_uri_and_plain_anchor_list(pki):
    seen = []
    comm = SimpleNamespace(uri=None, anchors=[pki.root.pem.decode()], revocation="hard")
    report = run(pki, comm, None, policy=serve(metadata(sign(pki)), seen=seen))
    assert report.ok and seen[0].url.query == b""


# ---- signed_metadata tamper suite ---------------------------------------------------------------

def _x5c(pki):
    return jose.x5c_for([pki.leaf.cert, pki.intermediate.cert])


def _b64url_x5c(pki):
    std = _x5c(pki)
    url = [base64.urlsafe_b64encode(base64.b64decode(s)).decode() for s in std]
    assert url != std  # the DER has + or / somewhere, so the base64url form really differs
    return forge({"alg": "RS256", "x5c": url}, claims())


def _bad_signature(pki):
    h, _, s = sign(pki).split(".")
    return f"{h}.{b64url(claims(token_endpoint='https://evil.example/token'))}.{s}"


def _untrusted(pki):
    rogue = make_ca("Rogue Root", key=cached_key("rsa2048", 11))
    leaf = make_leaf(rogue, [BASE], key=pki.leaf.key)
    return jose.sign(claims(), pki.leaf.key, [leaf.cert])


def _not_in_san(pki):
    leaf = make_leaf(pki.intermediate, ["https://fhir.example.org/other"], key=pki.leaf.key)
    return jose.sign(claims(), pki.leaf.key, [leaf.cert, pki.intermediate.cert])


TAMPER = [
    ("alg none", lambda p: forge({"alg": "none", "x5c": _x5c(p)}, claims(), ""), "D-V1", "alg_forbidden"),
    ("HS256", lambda p: forge({"alg": "HS256", "x5c": _x5c(p)}, claims()), "D-V1", "alg_forbidden"),
    ("no x5c", lambda p: sign(p, chain=[]), "D-V2", "x5c_missing"),
    ("base64url x5c", _b64url_x5c, "D-V2", "x5c_base64url"),
    ("RS384", lambda p: sign(p, alg="RS384"), "D-V3", "alg_not_allowed"),
    ("bad signature", _bad_signature, "D-V4", "bad_signature"),
    ("untrusted chain", _untrusted, "D-V5", None),
    ("expired", lambda p: sign(p, claims(exp=TS - 61, iat=TS - 400)), "D-V6", "expired"),
    ("iat in the future", lambda p: sign(p, claims(iat=TS + 120, exp=TS + 400)), "D-V6", "issued_in_future"),
    ("exp not an integer", lambda p: sign(p, claims(exp=str(TS + 300))), "D-V6", "claim_type"),
    ("jti missing", lambda p: sign(p, claims(jti=None)), "D-V6", "claim_missing"),
    ("sub differs", lambda p: sign(p, claims(sub="https://fhir.example.org/r5")), "D-V7", "sub_not_iss"),
    ("iss not a SAN", _not_in_san, "D-V7", "iss_not_in_san"),
    ("registration_endpoint unsigned", lambda p: sign(p, claims(registration_endpoint=None)), "D-V8",
     "claim_missing"),
    ("signed endpoint over http", lambda p: sign(p, claims(token_endpoint="http://as.example.org/oauth/token")),
     "D-V8", "endpoint_mismatch"),
    ("not a JWS", lambda p: "not-a-jws", "D-V1", "malformed"),
    ("payload not an object", lambda p: forge({"alg": "RS256", "x5c": _x5c(p)}, [1]), "D-V1", "payload_not_object"),
    ("x5c not a certificate", lambda p: forge({"alg": "RS256", "x5c": ["AAAA"]}, claims()), "D-V2",
     "x5c_bad_certificate"),
]


@pytest.mark.parametrize("case,make,check_id,reason", TAMPER, ids=[t[0] for t in TAMPER])
def test_tampered_signed_metadata(pki, community, case, make, check_id, reason):
    report = run(pki, community, metadata(make(pki)))
    if reason is None:  # the chain diagnosis belongs to trust.py; any failure reason is fine here
        row = report.row(check_id, "fail")
        assert row is not None and row.reason != "ok" and row.detail.get("trust") and not report.ok
    else:
        assert_rejected(report, check_id, reason)
    assert report.row("D-V9").status == "fail"
    with pytest.raises(DiscoveryError):
        report.raise_for_failure()


def test_revoked_server_certificate(community):
    fresh = make_community(san_uris=[BASE])
    fresh.intermediate.revoke(fresh.leaf.cert)
    comm = FakeCommunity(COMMUNITY, [fresh.root.pem.decode()])
    report = run(fresh, comm, metadata(sign(fresh)))
    row = assert_rejected(report, "D-V5", "revoked")
    assert row.detail["trust"][0]["reason"] == "revoked"


@pytest.mark.parametrize("iss,kind,position,exp_char,act_char", [
    (BASE + "/", "trailing_slash", len(BASE), None, "/"),
    ("https://FHIR.example.org/r4", "case", 8, "f", "F"),
    ("https://fhir.example.org/R4", "case", 25, "r", "R"),
    ("https://fhir.example.org/r5", "other", 26, "4", "5"),
])
def test_iss_differs_from_base_url(pki, community, iss, kind, position, exp_char, act_char):
    report = run(pki, community, metadata(sign(pki, claims(iss=iss, sub=iss))))
    row = assert_rejected(report, "D-V7", "iss_not_base_url")
    assert row.detail == {"expected": BASE, "actual": iss, "position": position, "kind": kind,
                          "expected_char": exp_char, "actual_char": act_char}
    assert report.error.code == "iss_not_base_url" and report.error.fields["position"] == position


def test_unsigned_endpoint_differs_from_signed(pki, community):
    report = run(pki, community, metadata(sign(pki), token_endpoint="https://as.example.org/oauth/tokens"))
    row = assert_rejected(report, "D-V8", "endpoint_mismatch")
    assert row.detail["endpoint"] == "token_endpoint" and row.detail["position"] == len(TOKEN)


def test_unsigned_endpoint_missing_from_claims(pki, community):
    report = run(pki, community, metadata(sign(pki), introspection_endpoint="https://as.example.org/introspect"))
    row = assert_rejected(report, "D-V8", "endpoint_not_signed")
    assert row.detail["endpoint"] == "introspection_endpoint"


def test_signed_http_endpoint_refused(pki, community):
    url = "http://as.example.org/oauth/token"
    report = run(pki, community, metadata(sign(pki, claims(token_endpoint=url)), token_endpoint=url))
    assert_rejected(report, "D-V8", "endpoint_not_https")


@pytest.mark.parametrize("over,reason", [({"signed_metadata": None}, "signed_metadata_missing"),
                                         ({"signed_metadata": None, "signed_endpoints": "x.y.z"},
                                          "legacy_signed_endpoints"),
                                         ({"signed_metadata": {"alg": "RS256"}}, "signed_metadata_not_string")])
def test_signed_metadata_absent_or_wrong_type(pki, community, over, reason):
    assert_rejected(run(pki, community, metadata("unused", **over)), "D-V1", reason)


def test_lifetime_over_a_year_warns(pki, community):
    report = run(pki, community, metadata(sign(pki, claims(iat=TS - 10, exp=TS + 400 * 86400))))
    assert report.ok and report.row("D-V6", "warning").reason == "lifetime_over_one_year"


# ---- transport and status outcomes --------------------------------------------------------------

def _policy(handler):
    return HttpPolicy(transport=httpx.MockTransport(handler), clock=lambda: NOW)


@pytest.mark.parametrize("handler,reason,error_type", [
    (lambda r: httpx.Response(404, html="<h1>Not found</h1>"), "no_udap", DiscoveryError),
    (lambda r: httpx.Response(204), "not_for_community", DiscoveryError),
    (lambda r: httpx.Response(200, html="<html>Sign in</html>"), "not_json", NetworkError),
    (lambda r: httpx.Response(200, json=[{"token_endpoint": TOKEN}]), "not_json_object", NetworkError),
    (lambda r: httpx.Response(200, content=b"{" + b" " * (2 * 1024 * 1024) + b"}"), "too_large", NetworkError),
    (lambda r: httpx.Response(302, headers={"Location": "https://evil.example/.well-known/udap"}),
     "redirect_refused", NetworkError),
    (lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)), "timeout", NetworkError),
    (lambda r: httpx.Response(503, text="maintenance"), "http_status", NetworkError),
])
def test_fetch_failures_are_a_failed_first_row(pki, community, handler, reason, error_type):
    report = discover(BASE, community, _policy(handler), now=NOW, fetch=pki.fetcher())
    assert not report.ok and report.metadata is None
    assert [(r.id, r.status, r.reason) for r in report.rows] == [("D1", "fail", reason)]
    assert isinstance(report.error, error_type) and report.error.code == reason
    with pytest.raises(error_type):
        report.raise_for_failure()
    json.dumps(report.to_dict())


@pytest.mark.parametrize("base,reason", [("fhir.example.org/r4", "bad_base_url"),
                                         ("https://fhir.example.org/r4?x=1", "bad_base_url"),
                                         ("http://fhir.example.org/r4", "insecure_url")])
def test_bad_base_url(pki, community, base, reason):
    report = discover(base, community, _policy(lambda r: httpx.Response(500)), now=NOW, fetch=pki.fetcher())
    assert [(r.id, r.reason) for r in report.rows] == [("D1", reason)]


def test_clock_skew_warning_does_not_block(pki, community):
    policy = serve(metadata(sign(pki)), date=NOW + dt.timedelta(seconds=90))
    report = run(pki, community, None, policy=policy)
    assert report.ok and report.skew_seconds == 90
    assert (report.row("CLOCK").status, report.row("CLOCK").reason) == ("warning", "clock_skew")


# ---- D-V10: metadata shape ----------------------------------------------------------------------

SHAPE = [
    ({"udap_versions_supported": ["2"]}, "fail", "udap_version_unsupported"),
    ({"udap_versions_supported": None}, "fail", "element_missing"),
    ({"udap_profiles_supported": ["udap_dcr", "udap_authz"]}, "fail", "profile_missing"),
    ({"udap_profiles_supported": ["udap_dcr", "udap_authn"]}, "warning", "udap_authz_missing"),
    ({"grant_types_supported": ["authorization_code"]}, "fail", "grant_type_not_supported"),
    ({"token_endpoint_auth_methods_supported": []}, "fail", "private_key_jwt_missing"),
    ({"token_endpoint_auth_signing_alg_values_supported": ["PS512"]}, "fail", "no_common_algorithm"),
    ({"registration_endpoint_jwt_signing_alg_values_supported": None}, "fail", "element_missing"),
    ({"scopes_supported": None}, "warning", "scopes_supported_missing"),
    ({"scopes_supported": "system/*.read"}, "fail", "element_type"),
    ({"udap_authorization_extensions_required": ["hl7-b2b", "acme-consent"]}, "fail", "extension_unsupported"),
    ({"udap_authorization_extensions_supported": [], "udap_authorization_extensions_required": []}, "warning",
     "hl7_b2b_not_listed"),
    ({"udap_certifications_required": ["https://certs.example/udap-basic"]}, "fail", "certifications_required"),
]


@pytest.mark.parametrize("over,status,reason", SHAPE, ids=[s[2] + "-" + s[1] for s in SHAPE])
def test_metadata_shape(pki, community, over, status, reason):
    report = run(pki, community, metadata(sign(pki), **over))
    row = report.row("D-V10", status)
    assert row is not None and row.reason == reason, [(r.id, r.status, r.reason) for r in report.rows]
    assert report.ok is (status == "warning")
    assert report.row("D-V9").status == "pass"  # the signed metadata itself was fine


def test_shape_checks_use_our_algorithms(pki, community):
    report = run(pki, community, metadata(sign(pki)), client_algs=["ES256"])
    assert not report.ok
    assert report.row("D-V10", "fail").detail["ours"] == ["ES256"]

