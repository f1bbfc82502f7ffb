import json
import threading
import time
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import hashes

from app.core import jose, registration as reg, statement as st
from app.core.errors import NetworkError, RegistrationError, StatementError
from app.core.http import HttpPolicy
from tests.pki import NOW, cached_key, make_community

CLIENT = "https://client.example.org/app"
REG = "https://as.example.net/register"
COMMUNITY = "udap://community.example/"


@pytest.fixture(scope="module")
def community():
    return make_community()


@pytest.fixture(scope="module")
def ec_community():
    return make_community(leaf_key=cached_key("p256"))


def details(**kw):
    base = dict(client_uri=CLIENT, client_name="Clinic B2B", contacts=["mailto:it@clinic.example"],
                scope="system/Patient.read system/Observation.read")
    base.update(kw)
    return st.StatementDetails(**base)


def make_statement(c, *, endpoint=REG, cancel=False, **changes):
    build = st.build_cancel_claims if cancel else st.build_claims
    claims = build(details(), endpoint, now=NOW)
    claims.update(changes)
    return st.sign_statement(claims, c.leaf.key, [c.leaf.cert, c.intermediate.cert]).token


def policy_for(handler):
    return HttpPolicy(transport=httpx.MockTransport(handler))


def answer(status, body=None, *, content=None, content_type="application/json"):
    def handler(request):
        handler.requests.append(request)
        if content is not None:
            return httpx.Response(status, content=content, headers={"Content-Type": content_type})
        data = body(request) if callable(body) else body
        return httpx.Response(status, json=data)
    handler.requests = []
    return handler


def echo(**extra):
    """A success body echoing the statement and its claims, as real servers do."""
    def make(request):
        sent = json.loads(request.content)
        claims = jose.decode(sent["software_statement"]).claims
        body = {k: v for k, v in claims.items() if k not in st.JWT_CLAIMS}
        body.update(client_id="client-123", software_statement=sent["software_statement"])
        body.update(extra)
        return {k: v for k, v in body.items() if v is not ...}
    return make


def run(handler, token, **kw):
    kw.setdefault("community", COMMUNITY)
    return reg.register(REG, token, policy=policy_for(handler), now=NOW, **kw)


def fail(handler, token, **kw):
    with pytest.raises(RegistrationError) as e:
        run(handler, token, **kw)
    return e.value


# ------------------------------------------------------------------ success

def test_201_registered_request_shape_and_diff(community):
    token = make_statement(community)
    handler = answer(201, echo(scope="system/Patient.read"))
    result = run(handler, token)
    request = handler.requests[0]
    assert request.method == "POST" and str(request.url) == REG
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {"software_statement": token, "udap": "1"}
    assert result.outcome == "registered" and result.client_id == "client-123" and result.http_status == 201
    assert result.warnings == []
    assert result.iss == CLIENT and result.community == COMMUNITY and result.endpoint == REG
    assert result.certificate_fingerprint == community.leaf.cert.fingerprint(hashes.SHA256()).hex(":").upper()
    rows = {r["field"]: r for r in result.diff}
    assert rows["scope"]["status"] == "narrowed"
    assert rows["scope"]["requested"] == "system/Patient.read system/Observation.read"
    assert rows["scope"]["granted"] == "system/Patient.read"
    assert rows["grant_types"]["status"] == "same" and rows["client_name"]["status"] == "same"
    assert "software_statement" not in result.granted and result.granted["client_id"] == "client-123"
    assert result.to_dict()["outcome"] == "registered"


def test_200_is_a_modification_and_client_id_change_is_flagged(community):
    result = run(answer(200, echo()), make_statement(community), previous_client_id="client-123")
    assert result.outcome == "modified" and result.warnings == []
    result = run(answer(200, echo()), make_statement(community), previous_client_id="old-id")
    assert [w.code for w in result.warnings] == ["client_id_changed"]


def test_cancel(community):
    token = make_statement(community, cancel=True)
    result = run(answer(200, echo(grant_types=[])), token)
    assert result.outcome == "cancelled" and result.client_id == "client-123"
    claims = jose.decode(token).claims
    assert claims["grant_types"] == [] and "redirect_uris" not in claims
    removed = run(answer(200, {"client_id": "removed", "software_statement": token}), token,
                  previous_client_id="client-123")
    assert removed.outcome == "cancelled" and removed.client_id == "client-123"


def test_server_side_cancellation_and_unconfirmed_cancel(community):
    surprise = run(answer(200, echo(grant_types=[])), make_statement(community))
    assert surprise.outcome == "cancelled" and [w.code for w in surprise.warnings] == ["unexpected_cancellation"]
    ignored = run(answer(200, echo(grant_types=["client_credentials"])), make_statement(community, cancel=True))
    assert ignored.outcome == "modified" and [w.code for w in ignored.warnings] == ["cancel_not_confirmed"]


def test_missing_client_id(community):
    for body in (echo(client_id=...), echo(client_id=""), echo(client_id=7)):
        e = fail(answer(201, body), make_statement(community))
        assert e.code == "no_client_id" and e.fields["status"] == 201 and e.fields["endpoint"] == REG


def test_echoed_statement_altered_or_missing(community):
    token = make_statement(community)
    altered = run(answer(201, echo(software_statement=token[:-4] + "AAAA")), token)
    assert [w.code for w in altered.warnings] == ["echoed_statement_altered"]
    missing = run(answer(201, echo(software_statement=...)), token)
    assert [w.code for w in missing.warnings] == ["statement_not_echoed"]


def test_secrets_in_the_response_are_not_kept(community):
    result = run(answer(201, echo(client_secret="s3cr3t-value", registration_access_token="rat-value")),
                 make_statement(community))
    assert "client_secret" not in result.granted and "registration_access_token" not in result.granted
    assert {w.code for w in result.warnings} == {"client_secret_ignored", "registration_access_token_ignored"}
    assert "s3cr3t" not in json.dumps(reg.to_record(result))


def test_diff_row_statuses():
    rows = {r["field"]: r["status"] for r in reg.diff_rows(
        {"scope": "a b", "grant_types": ["client_credentials"], "contacts": ["mailto:x@y.z"], "client_name": "A",
         "tos_uri": "https://t.example"},
        {"scope": "a b c", "grant_types": ["client_credentials"], "client_name": "B", "logo_uri": "https://l/x.png"})}
    assert rows == {"scope": "widened", "grant_types": "same", "contacts": "not_returned", "client_name": "changed",
                    "logo_uri": "added", "tos_uri": "not_returned"}
    assert reg.diff_rows({"scope": "a b"}, {"scope": "a c"})[0]["status"] == "changed"


# ------------------------------------------------------------------ failures

@pytest.mark.parametrize("error", reg.KNOWN_ERRORS)
def test_every_ig_error_code(community, error):
    e = fail(answer(400, {"error": error, "error_description": "because"}), make_statement(community))
    assert e.code == "rejected_" + error
    assert e.fields["error"] == error and e.fields["error_description"] == "because" and e.fields["status"] == 400
    assert e.fields["retry_with_same_certificate"] is (error != "unapproved_software_statement")
    assert e.fields["likely"] == []  # a clean statement: the lint has nothing to blame
    assert e.fields["hints"] == []


def test_unknown_error_code_keeps_the_servers_words(community):
    e = fail(answer(401, {"error": "access_denied", "error_description": "nope"}), make_statement(community))
    assert e.code == "rejected_other" and e.fields["error"] == "access_denied" and e.fields["status"] == 401


def test_5xx_without_error_member_gets_lint_hints(community):
    bad = make_statement(community, exp=int(NOW.timestamp()) + 600, aud=REG + "/")
    e = fail(answer(500, {"message": "Object reference not set"}), bad)
    assert e.code == "server_error" and e.fields["status"] == 500 and e.fields["body_kind"] == "json_object"
    assert "Object reference" in e.fields["excerpt"]
    likely = [f["code"] for f in e.fields["likely"]]
    assert set(likely) == {"lifetime_too_long", "aud_not_registration_endpoint"}
    assert e.fields["hints"] == []  # RSA key: no algorithm hint


def test_html_body(community):
    page = b"<html><body><h1>400 Bad Request</h1>\n  <p>nginx</p></body></html>"
    e = fail(answer(400, content=page, content_type="text/html"), make_statement(community))
    assert e.code == "rejected_without_error_code" and e.fields["body_kind"] == "html"
    assert e.fields["excerpt"].startswith("<html><body><h1>400 Bad Request</h1> <p>")


def test_json_array_body_and_description_only(community):
    e = fail(answer(400, ["invalid_software_statement"]), make_statement(community))
    assert e.code == "rejected_without_error_code" and e.fields["body_kind"] == "json_array"
    e = fail(answer(400, {"error_description": "iat is in the future"}), make_statement(community))
    assert e.code == "rejected_without_error_code" and e.fields["error_description"] == "iat is in the future"
    e = fail(answer(503, content=b""), make_statement(community))
    assert e.code == "server_error" and e.fields["body_kind"] == "empty"


def test_success_with_unreadable_body(community):
    for content, kind in ((b"<html>ok</html>", "html"), (b"[1]", "json_array"), (b"", "empty")):
        e = fail(answer(201, content=content, content_type="text/html"), make_statement(community))
        assert e.code == "success_response_unreadable" and e.fields["body_kind"] == kind


def test_unexpected_status(community):
    e = fail(answer(304, content=b""), make_statement(community))
    assert e.code == "unexpected_status" and e.fields["status"] == 304


def test_ec_key_and_500_suggests_rsa(ec_community, community):
    ec_token = make_statement(ec_community)
    assert jose.decode(ec_token).alg == "ES256"
    e = fail(answer(500, content=b"Internal Server Error", content_type="text/plain"), ec_token)
    assert e.code == "server_error" and e.fields["hints"] == ["server_may_require_rsa"]
    assert e.fields["body_kind"] == "text"
    e = fail(answer(400, {"error": "invalid_software_statement"}), ec_token)
    assert e.fields["hints"] == []  # only a server failure hints at RSA


def test_unreadable_statement_is_reported_as_likely_cause():
    e = fail(answer(500, content=b"boom"), "not-a-jws")
    assert e.fields["likely"][0]["code"] == "statement_unreadable"
    assert e.fields["certificate_fingerprint"] is None


def test_network_errors_pass_through(community):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)
    with pytest.raises(NetworkError) as e:
        run(refuse, make_statement(community))
    assert e.value.code == "connect_failed"


# ------------------------------------------------------------------ records and retries

def test_records_and_may_retry(community):
    result = run(answer(201, echo()), make_statement(community))
    record = reg.to_record(result)
    assert record["client_id"] == "client-123" and record["certificate_fingerprint"] == result.certificate_fingerprint
    assert record["time"] == NOW.isoformat() and record["granted"]["scope"]
    assert reg.may_retry(record, result.certificate_fingerprint)

    e = fail(answer(400, {"error": "unapproved_software_statement"}), make_statement(community))
    refused = reg.to_record(e, now=NOW + timedelta(minutes=1))
    assert refused["outcome"] == "rejected" and refused["retry_with_same_certificate"] is False
    assert refused["explanation"] == "rejected_unapproved_software_statement"
    assert refused["iss"] == CLIENT and refused["endpoint"] == REG and refused["community"] == COMMUNITY
    fp = result.certificate_fingerprint
    assert not reg.may_retry(refused, fp)
    assert not reg.may_retry(refused, fp.replace(":", "").lower())
    assert reg.may_retry(refused, "AA:BB")  # another certificate may be tried
    assert reg.may_retry(None, fp)
    other = reg.to_record(fail(answer(400, {"error": "invalid_client_metadata"}), make_statement(community)), NOW)
    assert reg.may_retry(other, fp)
    assert reg.to_record(fail(answer(502, content=b"x"), make_statement(community)), NOW)["outcome"] == "error"


# ------------------------------------------------------------------ many servers

