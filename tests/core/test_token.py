import json
from urllib.parse import parse_qs

import httpx
import pytest

from app.core import jose, token as tk
from app.core.errors import InputError, JwsError, TokenError
from app.core.evidence import AuditTrail
from app.core.http import HttpPolicy
from tests.pki import NOW, cached_key, make_community

TOKEN_URL = "https://as.example.net/token"
BASE = "https://fhir.example.net/r4"
CLIENT_ID = "client-123"
SCOPE = "system/Patient.read system/Observation.read"
ACCESS = "eyAccessTokenValue-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def community():
    return make_community()


def b2b(**kw):
    return tk.B2BExtension(organization_id="https://clinic.example/org", organization_name="Example Clinic", **kw)


def handler_for(status=200, body=None, *, content=None, content_type="application/json"):
    def handler(request):
        handler.requests.append(request)
        if content is not None:
            return httpx.Response(status, content=content, headers={"Content-Type": content_type})
        return httpx.Response(status, json=body)
    handler.requests = []
    return handler


def ask(community, handler, *, key=None, chain=None, audit=None, **kw):
    kw.setdefault("scope", SCOPE)
    kw.setdefault("b2b", b2b())
    policy = HttpPolicy(transport=httpx.MockTransport(handler), audit=audit)
    return tk.request_token(TOKEN_URL, client_id=CLIENT_ID, key=key or community.leaf.key,
                            chain=chain or [community.leaf.cert, community.intermediate.cert, community.root.cert],
                            policy=policy, now=NOW, **kw)


def refused(community, handler, **kw):
    with pytest.raises(TokenError) as e:
        ask(community, handler, **kw)
    return e.value


GOOD = {"access_token": ACCESS, "token_type": "Bearer", "expires_in": 300, "scope": "system/Patient.read"}


# ------------------------------------------------------------------ success

def test_token_request_and_assertion(community):
    handler = handler_for(200, GOOD)
    result = ask(community, handler, server_algs=["ES256", "RS256"])
    request = handler.requests[0]
    assert request.method == "POST" and str(request.url) == TOKEN_URL
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in request.headers
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert set(form) == {"grant_type", "scope", "client_assertion_type", "client_assertion", "udap"}
    assert form["grant_type"] == "client_credentials" and form["scope"] == SCOPE and form["udap"] == "1"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    decoded = jose.verify(form["client_assertion"], ["RS256"])
    c = decoded.claims
    assert c["iss"] == c["sub"] == CLIENT_ID
    assert c["aud"] == TOKEN_URL
    assert c["iat"] == int(NOW.timestamp()) and c["exp"] - c["iat"] == 300
    assert isinstance(c["jti"], str) and len(c["jti"]) >= 22
    assert isinstance(c["extensions"], dict) and isinstance(c["extensions"]["hl7-b2b"], dict)
    assert c["extensions"]["hl7-b2b"] == {"version": "1", "organization_id": "https://clinic.example/org",
                                          "organization_name": "Example Clinic",
                                          "purpose_of_use": ["urn:oid:2.16.840.1.113883.5.8#TREAT"]}
    assert len(decoded.header["x5c"]) == 2  # leaf + intermediate, the root left out
    assert decoded.header["alg"] == "RS256" and result.alg == "RS256"

    assert result.access_token == ACCESS and result.token_type == "Bearer" and result.expires_in == 300
    assert result.scope_removed == ["system/Observation.read"] and result.scope_added == []
    assert [w.code for w in result.warnings] == ["scope_differs"]
    assert tk.expires_at(result).timestamp() == NOW.timestamp() + 300


def test_token_is_never_shown_in_full(community):
    result = ask(community, handler_for(200, dict(GOOD, refresh_token="refresh-value-0123456789")))
    shown = json.dumps(result.to_dict())
    assert ACCESS not in shown and ACCESS not in repr(result) and "refresh-value-0123456789" not in shown
    assert result.to_dict()["access_token"] == f"{ACCESS[:6]}…({len(ACCESS)} chars)"
    assert "client_assertion" not in shown and result.to_dict()["assertion"]["claims"]["iss"] == CLIENT_ID


def test_audit_trail_never_holds_the_token(community):
    trail = AuditTrail()
    result = ask(community, handler_for(200, GOOD), audit=trail)
    policy = HttpPolicy(transport=httpx.MockTransport(handler_for(200, {"resourceType": "Bundle", "type": "searchset",
                                                                          "note": ACCESS})), audit=trail)
    tk.call_fhir(BASE, result, policy=policy, path="Patient")
    dump = json.dumps(trail.to_jsonable())
    assert len(trail.entries) == 2 and ACCESS not in dump


def test_ec_key_uses_token_endpoint_algs():
    key = cached_key("p256")
    c = make_community(leaf_key=key)
    handler = handler_for(200, GOOD)
    result = ask(c, handler, key=key, chain=[c.leaf.cert], server_algs=["RS256", "ES256"])
    form = parse_qs(handler.requests[0].content.decode())
    assert jose.decode(form["client_assertion"][0]).alg == "ES256" and result.alg == "ES256"
    with pytest.raises(JwsError) as e:
        ask(c, handler, key=key, chain=[c.leaf.cert], server_algs=["RS256"])
    assert e.value.code == "no_common_algorithm"


def test_b2b_object_with_subject_and_validation():
    obj = b2b(subject_name="Dr. A", subject_id="urn:oid:2.16.840.1.113883.4.6#1234567890",
              subject_role="http://nucc.org/provider-taxonomy#207Q00000X",
              purpose_of_use=["urn:oid:2.16.840.1.113883.5.8#HOPERAT"]).to_object()
    assert obj["subject_name"] == "Dr. A" and obj["subject_role"].endswith("207Q00000X")
    assert obj["purpose_of_use"] == ["urn:oid:2.16.840.1.113883.5.8#HOPERAT"] and obj["version"] == "1"
    assert "consent_policy" not in obj
    for bad, code in ((tk.B2BExtension(organization_id="Example Clinic"), "organization_id_not_uri"),
                      (b2b(purpose_of_use=[]), "purpose_of_use_empty"),
                      (b2b(consent_reference=["https://c.example/Consent/1"]), "consent_reference_without_policy")):
        with pytest.raises(InputError) as e:
            bad.to_object()
        assert e.value.code == code
    claims = tk.build_assertion_claims(CLIENT_ID, TOKEN_URL, b2b=None, now=NOW, lifetime=3600)
    assert claims["exp"] - claims["iat"] == 300 and "extensions" not in claims


def test_scope_required(community):
    with pytest.raises(InputError) as e:
        ask(community, handler_for(200, GOOD), scope="  ")
    assert e.value.code == "token_scope_missing"


def test_response_warnings(community):
    result = ask(community, handler_for(200, {"access_token": ACCESS, "token_type": "mac", "expires_in": 7200,
                                              "scope": SCOPE}))
    assert [w.code for w in result.warnings] == ["token_type_not_bearer", "expires_in_over_one_hour"]
    result = ask(community, handler_for(200, {"access_token": ACCESS, "token_type": "bearer"}))
    assert [w.code for w in result.warnings] == ["expires_in_missing"] and result.granted_scope is None
    result = ask(community, handler_for(200, {"access_token": ACCESS, "token_type": "Bearer", "expires_in": "soon"}))
    assert [w.code for w in result.warnings] == ["expires_in_not_number"]
    result = ask(community, handler_for(200, dict(GOOD, scope=SCOPE + " system/Encounter.read")))
    assert result.scope_added == ["system/Encounter.read"]


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("status", [400, 401])
@pytest.mark.parametrize("error", ["invalid_client", "invalid_request", "invalid_grant", "invalid_scope"])
def test_each_token_error(community, error, status):
    e = refused(community, handler_for(status, {"error": error, "error_description": "why"}))
    assert e.code == "rejected_" + error
    assert e.fields["error"] == error and e.fields["status"] == status and e.fields["error_description"] == "why"
    assert e.fields["hints"] == []


def test_unknown_token_error(community):
    e = refused(community, handler_for(400, {"error": "temporarily_unavailable"}))
    assert e.code == "rejected_other" and e.fields["error"] == "temporarily_unavailable"


def test_token_5xx_and_non_json(community):
    e = refused(community, handler_for(500, content=b"Internal error", content_type="text/plain"))
    assert e.code == "server_error" and e.fields["excerpt"] == "Internal error" and e.fields["hints"] == []
    e = refused(community, handler_for(400, content=b"<html>Bad</html>", content_type="text/html"))
    assert e.code == "rejected_without_error_code" and e.fields["body_kind"] == "html"
    e = refused(community, handler_for(200, content=b"<html>hi</html>", content_type="text/html"))
    assert e.code == "token_response_unreadable" and e.fields["body_kind"] == "html"
    e = refused(community, handler_for(302, content=b""))
    assert e.code == "unexpected_status"


def test_ec_key_and_5xx_hint():
    key = cached_key("p256")
    c = make_community(leaf_key=key)
    e = refused(c, handler_for(500, {"message": "boom"}), key=key, chain=[c.leaf.cert])
    assert e.code == "server_error" and e.fields["hints"] == ["server_may_require_rsa"]


def test_no_access_token(community):
    for body in ({"token_type": "Bearer"}, {"access_token": ""}, {"access_token": 12}):
        e = refused(community, handler_for(200, body))
        assert e.code == "no_access_token" and e.fields["status"] == 200


# ------------------------------------------------------------------ FHIR call

CAPABILITY = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active",
              "software": {"name": "Test FHIR", "version": "1.2"},
              "rest": [{"mode": "server", "resource": [{"type": "Patient"}, {"type": "Observation"}]}]}


def fhir(handler, path=None, token=ACCESS):
    return tk.call_fhir(BASE, token, policy=HttpPolicy(transport=httpx.MockTransport(handler)), path=path)


def test_fhir_metadata_with_bearer(community):
    handler = handler_for(200, CAPABILITY)
    result = fhir(handler, token=ask(community, handler_for(200, GOOD)))
    request = handler.requests[0]
    assert str(request.url) == BASE + "/metadata" and request.method == "GET"
    assert request.headers["authorization"] == f"Bearer {ACCESS}"
    assert "fhir+json" in request.headers["accept"]
    assert result.ok and result.status == 200 and result.resource_type == "CapabilityStatement"
    assert result.content_type == "application/json"
    assert result.summary == {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active",
                              "software": "Test FHIR 1.2", "resource_count": 2, "resources": ["Patient", "Observation"]}


def test_fhir_path_bundle_outcome_and_other_bodies():
    handler = handler_for(200, {"resourceType": "Bundle", "type": "searchset", "total": 3, "entry": [{}, {}]})
    result = fhir(handler, "/Patient?_count=2")
    assert str(handler.requests[0].url) == BASE + "/Patient?_count=2"
    assert result.summary == {"resourceType": "Bundle", "type": "searchset", "total": 3, "entries": 2}
    denied = fhir(handler_for(403, {"resourceType": "OperationOutcome",
                                    "issue": [{"severity": "error", "code": "forbidden", "diagnostics": "scope"}]}))
    assert not denied.ok and denied.status == 403
    assert denied.summary["issues"] == [{"severity": "error", "code": "forbidden", "diagnostics": "scope"}]
    page = fhir(handler_for(502, content=b"<html>Bad gateway</html>", content_type="text/html"))
    assert page.resource_type is None and page.summary == {"body_kind": "html", "excerpt": "<html>Bad gateway</html>"}
    other = fhir(handler_for(200, {"resourceType": "Patient", "id": "p1"}), "Patient/p1")
    assert other.summary == {"resourceType": "Patient", "id": "p1"}


def test_fhir_url_must_stay_on_origin():
    assert tk.fhir_url(BASE + "/") == BASE + "/metadata"
    assert tk.fhir_url(BASE, "Patient/1") == BASE + "/Patient/1"
    assert tk.fhir_url(BASE, "https://fhir.example.net:443/other/metadata") == \
        "https://fhir.example.net:443/other/metadata"
    for bad in ("https://evil.example/r4/metadata", "//evil.example/x", "http://fhir.example.net/r4/metadata",
                "https://fhir.example.net:8443/r4"):
        with pytest.raises(InputError) as e:
            tk.fhir_url(BASE, bad)
        assert e.value.code == "fhir_url_other_origin"
