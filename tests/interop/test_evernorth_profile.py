"""Our client against a UDAP server that is not ours: the Evernorth/Okta reference server's checks.

tests/interop/evernorth_profile.js runs in node with the libraries that server is built on (njwt,
node-forge, pkijs; jose for the mocked OAuth platform), so signatures, certificates, chains and
CRLs are judged by code that shares nothing with app/core or app/sandbox. The client side is the
real thing: app.core.onboarding's discover / register / request_token with a Session over loopback
http. Quirks of that server the tests pin (see notes/thirdparty.md): only x5c[0] is read, the chain
is built through AIA alone, only the anchor's CRL is read, the community parameter is ignored,
udap_authorization_extensions_supported is empty, node-forge cannot read EC keys, and a failed
statement check crashes into a bare 500 (faithful_errors).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from app.core import onboarding
from app.core import token as token_mod
from app.core.errors import TokenError
from app.core.secrets import MemorySecretStore
from app.core.session import Session
from tests.interop.harness import COMMUNITY_NAME, EvernorthServer, missing_prerequisite

_MISSING = missing_prerequisite()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def _server(tmp_path_factory, name: str, **options):
    folder = tmp_path_factory.mktemp(name)
    server = EvernorthServer(folder, **options).start()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = _server(tmp_path_factory, "evernorth")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ec_listing_server(tmp_path_factory):
    """Lists ES256 although node-forge cannot read an EC certificate: what a mis-configured one does."""
    s = _server(tmp_path_factory, "evernorth-es256", client_algs=["RS256", "ES256"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def crashing_server(tmp_path_factory):
    """The reference's real error path: a failed statement check comes back as a bare 500."""
    s = _server(tmp_path_factory, "evernorth-500", client_algs=["RS256", "ES256"], faithful_errors=True)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def idp_scopes_server(tmp_path_factory):
    """The scope list the reference really advertises in its IdP mode: no system/ scope at all."""
    s = _server(tmp_path_factory, "evernorth-idp", scopes=["openid", "fhirUser", "email", "profile", "udap"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def smart_v2_server(tmp_path_factory):
    """System scopes in SMART v2 syntax only (.rs), after the OIDC ones."""
    s = _server(tmp_path_factory, "evernorth-v2", scopes=["openid", "fhirUser", "udap", "system/Patient.cruds",
                                                           "system/Patient.rs", "system/Observation.rs"])
    yield s
    s.stop()


@pytest.fixture
def session(tmp_path):
    s = Session(tmp_path / "home", secrets=MemorySecretStore(), allow_insecure_loopback=True)
    yield s
    s.close()


def enrol(session, server, name: str, key_type: str = "rsa-2048", *, foreign: bool = False):
    """A profile with a key and a certificate from the server's community CA (or a foreign one)."""
    session.communities.add(server.community(), replace=True)
    uri = f"https://apps.example-clinic.org/udap/{name}"
    profile, _ = onboarding.create_profile(session, name, org_name="Example Clinic", client_name=f"Clinic {name}",
                                           client_uri=uri, contact="it@example-clinic.org", community=COMMUNITY_NAME)
    onboarding.generate_key(session, profile, key_type)
    pki = server.foreign if foreign else server.pki
    leaf = pki.issue_client(onboarding.load_key(session, profile), uri)
    check = onboarding.import_certificate(session, profile, [leaf.pem, pki.intermediate.pem], community=COMMUNITY_NAME)
    assert check.saved, check.to_dict()
    assert check.ok is not foreign, check.to_dict()  # our own check agrees on which one is trusted
    return profile, leaf


def sent(session, path: str) -> list[dict]:
    return [e for e in session.audit.to_jsonable() if str(e.get("url", "")).endswith(path)]


# ------------------------------------------------------------------ the whole flow

def test_discovery_of_the_reference_metadata(server, session):
    session.communities.add(server.community())
    report = onboarding.discover(session, server.base_url, COMMUNITY_NAME)
    assert report.ok, report.to_dict()
    meta = report.metadata
    assert (meta.registration_endpoint, meta.token_endpoint) == (server.registration_endpoint, server.token_endpoint)
    # x5c holds the server's leaf only: our path to the anchor went through its AIA URL.
    assert any(e["url"].endswith("/pki/intermediate.cer") for e in session.audit.to_jsonable())
    not_passed = {(r["id"], r["status"], r["reason"]) for r in report.to_dict()["rows"] if r["status"] != "pass"}
    # The reference lists no authorization extension although it takes hl7-b2b: a warning, not a stop.
    assert not_passed == {("D-V10", "warning", "hl7_b2b_not_listed")}


def test_register_token_fhir_modify_cancel(server, session):
    profile, _ = enrol(session, server, "lifecycle")
    [row] = onboarding.register(session, profile, [server.base_url], COMMUNITY_NAME)
    assert (row.outcome, row.http_status) == ("registered", 201), row.to_dict()
    client_id = row.client_id
    assert client_id.startswith("0oa")
    assert row.granted["scope"] == "system/Patient.read"
    assert all(d["status"] == "same" for d in row.diff), row.diff

    access = onboarding.request_token(session, profile, server.base_url, "metadata")
    assert access.ok and access.token.granted_scope == "system/Patient.read"
    assert (access.fhir.status, access.fhir.resource_type) == (200, "CapabilityStatement")
    assert access.token.alg == "RS256"

    [again] = onboarding.register(session, profile, [server.base_url], COMMUNITY_NAME)
    assert (again.outcome, again.http_status, again.client_id) == ("modified", 200, client_id), again.to_dict()

    [gone] = onboarding.register(session, profile, [server.base_url], COMMUNITY_NAME, cancel=True)
    assert (gone.outcome, gone.http_status) == ("cancelled", 200), gone.to_dict()

    # The server really forgot the client: an assertion for the old client_id is refused there.
    meta = onboarding.discover(session, server.base_url, COMMUNITY_NAME, reuse=True).metadata
    with pytest.raises(TokenError) as caught:
        token_mod.request_token(meta.token_endpoint, client_id=client_id, key=onboarding.load_key(session, profile),
                                chain=onboarding.profile_chain(profile), scope="system/Patient.read",
                                b2b=token_mod.B2BExtension(organization_id=profile.org_id,
                                                           organization_name=profile.org_name),
                                policy=session.http_policy(session.communities.get(COMMUNITY_NAME)),
                                server_algs=meta.token_signing_algs, now=session.now())
    assert caught.value.fields.get("error") == "invalid_client", caught.value.to_dict()


# ------------------------------------------------------------------ the third party's checks are live

def test_certificate_outside_the_community_is_unapproved(server, session):
    profile, _ = enrol(session, server, "foreign", foreign=True)
    [row] = onboarding.register(session, profile, [server.base_url], COMMUNITY_NAME)
    assert (row.outcome, row.http_status, row.error) == ("rejected", 400, "unapproved_software_statement")
    assert row.explanation["fields"]["error_description"] == "Certificate Validation Error: Certificate is not trusted."
    assert row.explanation["fields"]["retry_with_same_certificate"] is False


def test_leaf_listed_on_the_anchor_crl_is_unapproved(server, session):
    profile, leaf = enrol(session, server, "revoked")
    server.revoke_in_anchor_crl(leaf.cert)
    try:
        [row] = onboarding.register(session, profile, [server.base_url], COMMUNITY_NAME)
    finally:
        server.reset_crls(clear=True)
    assert (row.outcome, row.error) == ("rejected", "unapproved_software_statement"), row.to_dict()
    assert row.explanation["fields"]["error_description"].endswith("certificate revoked")


# ------------------------------------------------------------------ EC keys against an RSA-only stack

def test_ec_key_and_rs256_only_server_stop_before_sending(server, session):
    profile, _ = enrol(session, server, "ec-local", "ec-p256")
    [row] = onboarding.register(session, profile, [server.base_url], COMMUNITY_NAME)
    assert (row.outcome, row.error) == ("error", "no_common_algorithm"), row.to_dict()
    assert row.explanation["fields"] == {"ours": ["ES256"], "server": ["RS256"]}
    assert not sent(session, "/oauth2/register")


def test_ec_key_where_es256_is_listed_but_unreadable(ec_listing_server, session):
    profile, _ = enrol(session, ec_listing_server, "ec-listed", "ec-p256")
    [row] = onboarding.register(session, profile, [ec_listing_server.base_url], COMMUNITY_NAME)
    assert (row.outcome, row.http_status, row.error) == ("rejected", 400, "invalid_software_statement")
    assert "OID is not RSA" in row.explanation["fields"]["error_description"]


def test_bare_500_still_explained(crashing_server, session):
    profile, _ = enrol(session, crashing_server, "ec-500", "ec-p256")
    [row] = onboarding.register(session, profile, [crashing_server.base_url], COMMUNITY_NAME)
    assert (row.outcome, row.http_status) == ("error", 500), row.to_dict()
    fields = row.explanation["fields"]
    assert "Internal server error" in fields["excerpt"]
    assert "server_may_require_rsa" in fields["hints"]


def test_rsa_client_registers_with_the_crashing_server_too(crashing_server, session):
    profile, _ = enrol(session, crashing_server, "rsa-500")
    started = time.monotonic()
    [row] = onboarding.register(session, profile, [crashing_server.base_url], COMMUNITY_NAME)
    assert row.outcome == "registered", row.to_dict()
    assert time.monotonic() - started < 10


# ------------------------------------------------------------------ which scope a B2B client asks for

def test_no_system_scope_listed_asks_the_user(idp_scopes_server, session):
    """Before: "openid" (the first listed) was registered for client_credentials, against IG §3.1."""
    profile, _ = enrol(session, idp_scopes_server, "idp-scopes")
    [row] = onboarding.register(session, profile, [idp_scopes_server.base_url], COMMUNITY_NAME)
    assert (row.outcome, row.error) == ("error", "no_system_scope"), row.to_dict()
    assert row.explanation["fields"]["supported"] == ["openid", "fhirUser", "email", "profile", "udap"]
    assert not sent(session, "/oauth2/register")
    chosen = onboarding.StatementRequest(scope="udap")  # what the user typed: the server takes it
    [row] = onboarding.register(session, profile, [idp_scopes_server.base_url], COMMUNITY_NAME, request=chosen)
    assert (row.outcome, row.granted["scope"]) == ("registered", "udap"), row.to_dict()


def test_smart_v2_system_read_scope_is_the_default(smart_v2_server, session):
    """Before: only ".read" counted as a read scope, so "openid" was picked here too."""
    profile, _ = enrol(session, smart_v2_server, "smart-v2")
    [row] = onboarding.register(session, profile, [smart_v2_server.base_url], COMMUNITY_NAME)
    assert (row.outcome, row.granted["scope"]) == ("registered", "system/Patient.rs"), row.to_dict()
    access = onboarding.request_token(session, profile, smart_v2_server.base_url, "metadata")
    assert access.ok and access.token.granted_scope == "system/Patient.rs"


# ------------------------------------------------------------------ clocks

def test_clock_ahead_under_the_warning_threshold_is_refused_there(server, tmp_path):
    """The reference allows no leeway on iat (iat*1000 >= now fails): 20 s ahead, below our 30 s warning,
    is refused. The skew is measured at discovery; the refusal does not mention it yet (notes/thirdparty.md)."""
    ahead = Session(tmp_path / "ahead", secrets=MemorySecretStore(), allow_insecure_loopback=True,
                    clock=lambda: datetime.now(timezone.utc) + timedelta(seconds=20))
    try:
        profile, _ = enrol(ahead, server, "clock-ahead")
        report = onboarding.discover(ahead, server.base_url, COMMUNITY_NAME)
        assert report.ok and -25 < report.skew_seconds < -15
        [row] = onboarding.register(ahead, profile, [server.base_url], COMMUNITY_NAME)
    finally:
        ahead.close()
    assert (row.outcome, row.error) == ("rejected", "invalid_software_statement"), row.to_dict()
    assert row.explanation["fields"]["error_description"] == "Invalid iat value"
