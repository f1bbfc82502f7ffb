"""A third-party UDAP client following the IG registers at the practice server and gets a token.

The client (tests/sandbox/thirdparty.py) is httpx + joserfc + cryptography only; app.sandbox is used
here just for setup, as a community operator would: start the server, sign the client's CSR. Then
the third party's common mistakes, each answered with the IG error code a strict server gives.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from app.core.secrets import MemorySecretStore
from app.sandbox.server import PracticeServer
from tests.pki import cached_key
from tests.sandbox.thirdparty import ASSERTION_TYPE, B2B, ThirdPartyClient, Untrusted, csr_for, fetch_issuer

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PracticeServer(tmp_path_factory.mktemp("interop"), MemorySecretStore()) as srv:
        yield srv


def enrol(server, key, client_uri: str, anchor: x509.Certificate | None = None) -> ThirdPartyClient:
    """What a member gets from the community: its leaf (from its CSR) plus the published anchors;
    the intermediate it fetches itself through the leaf's AIA."""
    info = server.describe()
    leaf = server.ca.issue_from_csr(csr_for(key, client_uri))
    client = ThirdPartyClient(base_url=info["base_url"], community_uri=info["community_uri"],
                              anchor=anchor or x509.load_pem_x509_certificate(info["anchor_pem"].encode()),
                              tls_anchor_pem=info["tls_anchor_pem"], key=key, chain=[leaf], client_uri=client_uri)
    client.chain.append(fetch_issuer(client.plain, leaf))
    return client


@pytest.fixture(scope="module")
def third(server):
    client = enrol(server, cached_key("rsa2048", 0), "https://third-party.example.org/udap/mistakes")
    client.discover()
    yield client
    client.close()


@pytest.fixture(scope="module")
def client_id(third):
    response = third.register(third.statement())
    assert response.status_code in (200, 201), response.json().get("error_description")  # 200 if registered already
    return response.json()["client_id"]


# --- the happy path ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, alg", [("rsa2048", "RS256"), ("p256", "ES256")])
def test_third_party_registers_gets_a_token_and_reads_patients(server, kind, alg):
    uri = f"https://third-party.example.org/udap/{alg.lower()}"
    client = enrol(server, cached_key(kind, 0), uri)
    try:
        meta = client.discover()
        assert meta["registration_endpoint"] == server.registration_url
        assert client.chain[1] == server.ca.intermediate_cert  # fetched through AIA

        statement = client.statement()
        assert json.loads(base64.urlsafe_b64decode(statement.split(".")[0] + "=="))["alg"] == alg
        created = client.register(statement)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["client_id"] and body["software_statement"] == statement  # R7: returned unmodified
        assert body["grant_types"] == ["client_credentials"] and body["token_endpoint_auth_method"] == "private_key_jwt"
        assert set(body["scope"].split()) <= {"system/Patient.read", "system/Observation.read"}
        assert not {"iss", "sub", "aud", "exp", "iat", "jti"} & set(body)  # R8
        assert created.headers["cache-control"] == "no-store"

        token = client.token(client.assertion(body["client_id"]))
        assert token.status_code == 200, token.text
        granted = token.json()
        assert granted["token_type"].lower() == "bearer" and 0 < granted["expires_in"] <= 3600  # T1, T2
        assert granted["scope"] == "system/Patient.read"
        patients = client.read("Patient", granted["access_token"])
        assert patients.status_code == 200 and patients.headers["content-type"].startswith("application/fhir+json")
        bundle = patients.json()
        assert bundle["resourceType"] == "Bundle" and bundle["entry"][0]["resource"]["resourceType"] == "Patient"

        modified = client.register(client.statement(scope="system/Patient.read"))  # R14/R15
        assert (modified.status_code, modified.json()["client_id"]) == (200, body["client_id"])
        cancelled = client.register(client.statement(grant_types=[]))  # R16/R17
        assert cancelled.status_code == 200 and cancelled.json()["grant_types"] == []
        after = client.token(client.assertion(body["client_id"]))
        assert (after.status_code, after.json()["error"]) == (400, "invalid_client")
    finally:
        client.close()


def test_the_third_party_refuses_metadata_it_cannot_trust(server):
    """Its own checks can fail: metadata chained to another anchor is rejected (D-V5)."""
    stranger = server.ca.tls_ca_cert  # a real CA, but not the community's anchor
    client = enrol(server, cached_key("p256", 0), "https://third-party.example.org/udap/wary", anchor=stranger)
    try:
        with pytest.raises(Untrusted, match="no path"):
            client.discover()
        client.community_uri = "udap://some-other-community.example/"
        with pytest.raises(Untrusted, match="204"):
            client.discover()
    finally:
        client.close()


# --- registration mistakes -----------------------------------------------------------------------

def _b64url_x5c(third) -> dict:
    encoded = [base64.urlsafe_b64encode(c.public_bytes(Encoding.DER)).rstrip(b"=").decode() for c in third.chain]
    assert encoded[0] != base64.b64encode(third.chain[0].public_bytes(Encoding.DER)).decode()
    return {"x5c": encoded}


REGISTRATION_MISTAKES = {
    "x5c in base64url": (lambda t: t.register(t.statement(header=_b64url_x5c(t))),
                         400, "invalid_software_statement", "base64url"),
    "aud is the FHIR base URL": (lambda t: t.register(t.statement(aud=t.base_url)),
                                 400, "invalid_software_statement", "aud must be the registration endpoint"),
    "aud as an array": (lambda t: t.register(t.statement(aud=[t.meta["registration_endpoint"]])),
                        400, "invalid_software_statement", "aud must be the registration endpoint"),
    "lifetime of ten minutes": (lambda t: t.register(t.statement(exp=int(time.time()) + 600)),
                                400, "invalid_software_statement", "at most 300"),
    "iss with a trailing slash": (lambda t: t.register(t.statement(iss=t.client_uri + "/", sub=t.client_uri + "/")),
                                  400, "invalid_software_statement", "not a subjectAltName URI"),
    "signed with another key": (lambda t: t.register(t.statement(signer=cached_key("rsa2048", 1))),
                                400, "invalid_software_statement", "signature"),
    "udap as a number": (lambda t: t.register(t.statement(), udap=1),
                         400, "invalid_client_metadata", 'udap must be the string "1"'),
    "udap missing": (lambda t: t.http.post(t.meta["registration_endpoint"], json={"software_statement": t.statement()}),
                     400, "invalid_client_metadata", "udap parameter is missing"),
    "form-encoded body": (lambda t: t.register(t.statement(), content_type=FORM),
                          415, "invalid_request", "Content-Type must be application/json"),
    "contacts without mailto": (lambda t: t.register(t.statement(contacts=["https://third-party.example.org/support"])),
                                400, "invalid_client_metadata", "mailto"),
    "redirect_uris with client_credentials": (
        lambda t: t.register(t.statement(redirect_uris=["https://third-party.example.org/cb"])),
        400, "invalid_redirect_uri", "redirect_uris must be absent"),
    "client_secret_basic": (lambda t: t.register(t.statement(token_endpoint_auth_method="client_secret_basic")),
                            400, "invalid_client_metadata", "private_key_jwt"),
    "only unsupported scopes": (lambda t: t.register(t.statement(scope="user/*.*")),
                                400, "invalid_client_metadata", "none of the requested scopes"),
}


@pytest.mark.parametrize("mistake", list(REGISTRATION_MISTAKES))
def test_registration_mistakes_get_the_ig_error_code(third, mistake):
    send, status, error, words = REGISTRATION_MISTAKES[mistake]
    response = send(third)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and words in body["error_description"], body


def test_a_replayed_software_statement_is_refused(third):
    statement = third.statement(client_name="Replay test")
    assert third.register(statement).status_code in (200, 201)
    again = third.register(statement)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_software_statement")
    assert "replay" in again.json()["error_description"]


# --- token mistakes ------------------------------------------------------------------------------

def _b2b(**changes) -> dict:
    b2b = {**B2B, **changes}
    return {"hl7-b2b": {k: v for k, v in b2b.items() if v is not None}}


TOKEN_MISTAKES = {
    "no hl7-b2b extension": (lambda t, c: t.token(t.assertion(c, drop=("extensions",))),
                             "invalid_grant", "hl7-b2b are required"),
    "extensions as a JSON string": (lambda t, c: t.token(t.assertion(c, extensions=json.dumps(_b2b()))),
                                    "invalid_grant", "must be a JSON object"),
    "hl7-b2b version as a number": (lambda t, c: t.token(t.assertion(c, extensions=_b2b(version=1))),
                                    "invalid_grant", "version"),
    "purpose_of_use as a string": (lambda t, c: t.token(t.assertion(
        c, extensions=_b2b(purpose_of_use="urn:oid:2.16.840.1.113883.5.8#TREAT"))), "invalid_grant", "purpose_of_use"),
    "no organization_id": (lambda t, c: t.token(t.assertion(c, extensions=_b2b(organization_id=None))),
                           "invalid_grant", "organization_id"),
    "aud is the FHIR base URL": (lambda t, c: t.token(t.assertion(c, aud=t.base_url)),
                                 "invalid_client", "aud must be the token endpoint"),
    "iss is the client URI, not the client_id": (lambda t, c: t.token(t.assertion(t.client_uri)),
                                                 "invalid_client", "unknown"),
    "grant-type URN as assertion type": (lambda t, c: t.token(
        t.assertion(c), client_assertion_type="urn:ietf:params:oauth:grant-type:jwt-bearer"),
        "invalid_request", "client_assertion_type"),
    "udap=1 missing": (lambda t, c: t.token(t.assertion(c), drop=("udap",)), "invalid_request", "udap=1"),
    "scope missing (STU1 habit)": (lambda t, c: t.token(t.assertion(c), scope=None), "invalid_request", "scope"),
    "client_id parameter differs": (lambda t, c: t.token(t.assertion(c), client_id="someone-else"),
                                    "invalid_client", "client_id parameter"),
    "assertion lives an hour": (lambda t, c: t.token(t.assertion(c, exp=int(time.time()) + 3600)),
                                "invalid_client", "at most 300"),
    "x5c in base64url": (lambda t, c: t.token(t.assertion(c, header=_b64url_x5c(t))), "invalid_client", "base64url"),
    "scope never registered": (lambda t, c: t.token(t.assertion(c), scope="system/Encounter.read"),
                               "invalid_scope", "none of the requested scopes"),
}


@pytest.mark.parametrize("mistake", list(TOKEN_MISTAKES))
def test_token_mistakes_get_the_ig_error_code(third, client_id, mistake):
    send, error, words = TOKEN_MISTAKES[mistake]
    response = send(third, client_id)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error and words in body["error_description"], body


def test_token_request_as_json_is_415_and_a_replayed_assertion_is_refused(third, client_id):
    form = {"grant_type": "client_credentials", "scope": "system/Patient.read", "udap": "1",
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": third.assertion(client_id)}
    as_json = third.http.post(third.meta["token_endpoint"], json=form)
    assert (as_json.status_code, as_json.json()["error"]) == (415, "invalid_request")
    assertion = third.assertion(client_id)
    assert third.token(assertion).status_code == 200
    again = third.token(assertion)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_client") and "replay" in again.text
