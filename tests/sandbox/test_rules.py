"""The practice server's rules, driven directly with crafted statements and assertions."""

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from app.core import jose
from app.core.errors import NetworkError
from app.sandbox.chain import ChainFailure, check_chain
from app.sandbox.community import SCOPES_SUPPORTED
from app.sandbox.rules import MODES, PracticeRules, Refusal, ReplayCache
from tests.pki import NOW, cached_key, make_ca, make_community, make_leaf
from tests.sandbox.craft import (B2B, CLIENT_URI, REGISTRATION_URL, TOKEN_URL, assertion, make_csr,
                                 register_body, statement, token_body, unsigned)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def make_rules(practice_ca):
    def make(*modes, fetch=None, **kw):
        return PracticeRules(anchors=[practice_ca.root_cert], registration_url=REGISTRATION_URL, token_url=TOKEN_URL,
                             fetch=fetch or (lambda url, kind: practice_ca.fetch(url, kind, now=NOW)),
                             modes=modes, **kw)
    return make


@pytest.fixture
def rules(make_rules):
    return make_rules()


def register(rules, key, chain, now=NOW, content_type=JSON, body=None, **claims):
    return rules.register(content_type, body if body is not None else register_body(
        statement(key, chain, now=now, **claims)), now=now)


def refused(answer, error, *words, status=400):
    assert (answer.status, answer.body["error"]) == (status, error), answer.body
    for word in words:
        assert word in answer.body["error_description"], answer.body["error_description"]
    return answer.body["error_description"]


@pytest.fixture
def registered(rules, client):
    key, chain = client
    answer = register(rules, key, chain)
    assert answer.status == 201, answer.body
    return answer.body["client_id"]


def get_token(rules, key, chain, client_id, now=NOW, scope="system/Patient.read", content_type=FORM, **claims):
    return rules.token(content_type, token_body(assertion(key, chain, now=now, client_id=client_id, **claims),
                                                scope=scope), now=now)


# --- registration: success, modify, cancel ------------------------------------------------------

def test_register_creates_and_echoes_without_jwt_claims(rules, client):
    key, chain = client
    sent = statement(key, chain, now=NOW)
    answer = rules.register(JSON, register_body(sent), now=NOW)
    assert answer.status == 201
    body = answer.body
    assert body["software_statement"] == sent and body["client_id"]
    assert body["scope"] == "system/Patient.read system/Observation.read"
    assert body["grant_types"] == ["client_credentials"] and body["client_name"] == "Example Clinic B2B"
    assert not {"iss", "sub", "aud", "exp", "iat", "jti"} & set(body)
    assert list(rules.registrations) == [(CLIENT_URI, "urn:udap-onboard:practice")]


def test_same_iss_again_is_a_modification_with_the_same_client_id(rules, client, registered):
    key, chain = client
    answer = register(rules, key, chain, scope="system/Patient.read")
    assert answer.status == 200 and answer.body["client_id"] == registered
    assert answer.body["scope"] == "system/Patient.read"
    assert len(rules.registrations) == 1


def test_empty_grant_types_cancels_and_the_client_id_stops_working(rules, client, registered):
    key, chain = client
    answer = register(rules, key, chain, grant_types=[])
    assert answer.status == 200
    assert answer.body["grant_types"] == [] and answer.body["client_id"] == registered
    assert rules.registrations == {}
    refused(get_token(rules, key, chain, registered), "invalid_client", "unknown or its registration was cancelled")
    refused(register(rules, key, chain, grant_types=[]), "invalid_client_metadata", "nothing to cancel")


def test_on_change_sees_every_create_modify_and_cancel(make_rules, client):
    seen = []
    rules = make_rules(on_change=lambda regs: seen.append([r.client_id for r in regs]))
    key, chain = client
    for grants in (["client_credentials"], ["client_credentials"], []):
        register(rules, key, chain, grant_types=grants)
    assert len(seen) == 3 and seen[0] == seen[1] and seen[2] == []


def test_two_san_uris_on_one_certificate_are_two_registrations(practice_ca, make_rules):
    key = cached_key("rsa2048", 3)
    other = CLIENT_URI + "/ac"
    cert = practice_ca.issue_from_csr(make_csr(key, [CLIENT_URI, other]), now=NOW)
    rules = make_rules()
    a = register(rules, key, [cert, practice_ca.intermediate_cert])
    b = register(rules, key, [cert, practice_ca.intermediate_cert], iss=other)
    assert (a.status, b.status) == (201, 201) and a.body["client_id"] != b.body["client_id"]


# --- registration: the refusal order of strict servers ------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", FORM, None])
def test_non_json_content_type_is_415(rules, client, content_type):
    refused(register(rules, *client, content_type=content_type), "invalid_request", "application/json", status=415)


def test_json_with_charset_is_accepted(rules, client):
    assert register(rules, *client, content_type="application/json; charset=utf-8").status == 201


@pytest.mark.parametrize("body, words", [
    (b"not json", ["not a JSON object"]),
    (b"[]", ["not a JSON object"]),
    (json.dumps({"software_statement": "x"}).encode(), ["udap parameter is missing"]),
    (json.dumps({"software_statement": "x", "udap": 1}).encode(), ['udap must be the string "1", not 1']),
])
def test_body_and_udap_flag(rules, client, body, words):
    refused(rules.register(JSON, body, now=NOW), "invalid_client_metadata", *words)


def test_udap_is_checked_before_the_statement(rules, client):
    body = json.dumps({"software_statement": statement(*client, now=NOW, aud="wrong")}).encode()
    refused(rules.register(JSON, body, now=NOW), "invalid_client_metadata", "udap")


@pytest.mark.parametrize("value, words", [(None, ["software_statement is missing"]),
                                          ("abc", ["not a compact JWS"]), (42, ["missing"])])
def test_missing_or_malformed_statement(rules, value, words):
    refused(rules.register(JSON, json.dumps({"software_statement": value, "udap": "1"}).encode(), now=NOW),
            "invalid_software_statement", *words)


def test_no_x5c_header(rules, client):
    key, _ = client
    refused(register(rules, key, []), "invalid_software_statement", "no x5c header")


def test_bad_signature(rules, client):
    _, chain = client
    refused(register(rules, cached_key("rsa2048", 5), chain), "invalid_software_statement",
            "signature does not verify")


@pytest.mark.parametrize("alg, words", [("none", "never accepted"), ("HS256", "never accepted"),
                                        ("RS512", "is not one of RS256, RS384, ES256, ES384")])
def test_forbidden_algorithms(rules, client, alg, words):
    _, chain = client
    token = unsigned({"alg": alg, "x5c": jose.x5c_for(chain)}, {"iss": CLIENT_URI})
    refused(rules.register(JSON, register_body(token), now=NOW), "invalid_software_statement", words)


def test_rs384_is_accepted(rules, client):
    assert register(rules, *client, alg="RS384").status == 201


@pytest.mark.parametrize("change, words", [
    ({"drop": ["exp"]}, ["exp is missing"]),
    ({"exp": int(NOW.timestamp()) - 1}, ["expired at"]),
    ({"exp": "soon"}, ["exp is missing or not an integer"]),
    ({"drop": ["jti"]}, ["jti is missing"]),
    ({"sub": CLIENT_URI + "/"}, ["sub", "must equal iss"]),
    ({"drop": ["iss", "sub"]}, ["iss is missing"]),
    ({"aud": REGISTRATION_URL + "/"}, ["aud must be the registration endpoint"]),
    ({"aud": [REGISTRATION_URL]}, ["aud must be the registration endpoint"]),
    ({"drop": ["iat"]}, ["iat is missing"]),
    ({"iat": int(NOW.timestamp()) + 6}, ["iat is 6 s in the future"]),
    ({"exp": int(NOW.timestamp()) + 301}, ["exp is 301 s after iat"]),
])
def test_statement_claims(rules, client, change, words):
    refused(register(rules, *client, **change), "invalid_software_statement", *words)


def test_iat_within_five_seconds_ahead_is_tolerated(rules, client):
    assert register(rules, *client, iat=int(NOW.timestamp()) + 5).status == 201


@pytest.mark.parametrize("change, words", [
    ({"drop": ["client_name"]}, ["client_name is missing"]),
    ({"client_name": "  "}, ["client_name is missing"]),
    ({"drop": ["token_endpoint_auth_method"]}, ["token_endpoint_auth_method is missing"]),
    ({"token_endpoint_auth_method": "client_secret_basic"}, ["must be private_key_jwt"]),
])
def test_required_registration_claims(rules, client, change, words):
    refused(register(rules, *client, **change), "invalid_client_metadata", *words)


def test_replayed_statement_is_refused(rules, client):
    body = register_body(statement(*client, now=NOW))
    assert rules.register(JSON, body, now=NOW).status == 201
    refused(rules.register(JSON, body, now=NOW), "invalid_software_statement", "replay")


def test_replay_cache_is_per_issuer_and_forgets_at_exp():
    cache, t = ReplayCache(), 1000
    assert cache.add("a", "j1", t + 300, t)
    assert not cache.add("a", "j1", t + 300, t + 299)
    assert cache.add("b", "j1", t + 300, t)
    assert cache.add("a", "j1", t + 700, t + 301)


def test_order_exp_before_jti_before_aud_before_iat(rules, client):
    t = int(NOW.timestamp())
    refused(register(rules, *client, exp=t - 1, drop=["jti"]), "invalid_software_statement", "expired")
    refused(register(rules, *client, drop=["jti"], aud="x"), "invalid_software_statement", "jti")
    refused(register(rules, *client, aud="x", iat=t + 60), "invalid_software_statement", "aud")


def test_metadata_claims_come_before_the_chain_and_the_chain_before_the_san(rules, gallery, practice_ca):
    items, key = gallery
    by_name = {i.name: i for i in items}
    untrusted = [by_name["untrusted-ca"].certificate]
    refused(register(rules, key, untrusted, drop=["client_name"]), "invalid_client_metadata", "client_name")
    refused(register(rules, key, untrusted, scope="unknown/scope"), "unapproved_software_statement")
    different = [by_name["different-san"].certificate, practice_ca.intermediate_cert]
    refused(register(rules, key, different, grant_types=["bogus"]), "invalid_software_statement",
            "not a subjectAltName URI")


# --- the gallery -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gallery(practice_ca, tmp_path_factory):
    from app.core.keys import decrypt_key

    items = practice_ca.write_gallery(tmp_path_factory.mktemp("gallery"), CLIENT_URI, now=NOW)
    bundle = decrypt_key(items[0].file.read_bytes(), items[0].password.encode())
    return items, bundle.key


@pytest.mark.parametrize("name, error, words", [
    ("expired", "unapproved_software_statement", "expired on"),
    ("not-yet-valid", "unapproved_software_statement", "is not valid before"),
    ("revoked", "unapproved_software_statement", "was revoked on"),
    ("untrusted-ca", "unapproved_software_statement", "no valid path"),
    ("dead-crl", "unapproved_software_statement", "could not be fetched"),
    ("no-san", "invalid_software_statement", "has no subjectAltName"),
    ("different-san", "invalid_software_statement", "is not a subjectAltName URI"),
])
def test_each_gallery_certificate_is_refused_with_its_expected_error(rules, gallery, practice_ca, name, error, words):
    items, key = gallery
    item = next(i for i in items if i.name == name)
    assert item.expected_error == error
    chain = [item.certificate] + ([practice_ca.intermediate_cert] if name != "untrusted-ca" else [])
    refused(register(rules, key, chain), error, words)


def test_gallery_files_open_with_their_shown_password(gallery):
    from app.core.keys import decrypt_key

    items, key = gallery
    assert len({i.password for i in items}) == len(items) == 7
    readme = (items[0].file.parent / "README.txt").read_text()
    for item in items:
        bundle = decrypt_key(item.file.read_bytes(), item.password.encode())
        assert bundle.cert == item.certificate and item.password in readme and item.file.name in readme


# --- chain details -----------------------------------------------------------------------------

def test_chain_refuses_a_stale_crl_and_a_crl_signed_by_someone_else():
    com = make_community()
    leaf, chain = com.leaf.cert, [com.intermediate.cert]
    with pytest.raises(ChainFailure, match="out of date"):
        check_chain(leaf, chain, [com.root.cert], now=NOW, fetch=com.fetcher(now=NOW - timedelta(days=30)))
    forged = com.intermediate.crl(NOW, signer=cached_key("rsa2048", 4)).public_bytes(Encoding.DER)
    with pytest.raises(ChainFailure, match="not signed by"):
        check_chain(leaf, chain, [com.root.cert], now=NOW,
                    fetch=com.fetcher(overrides={f"{com.base}/intermediate.crl": forged}))
    assert len(check_chain(leaf, chain, [com.root.cert], now=NOW, fetch=com.fetcher())) == 3


def test_chain_requires_a_crl_distribution_point():
    com = make_community()
    plain = make_ca("Intermediate without CRL URLs", com.root)  # its children get no CDP
    leaf = make_leaf(plain, [CLIENT_URI])
    with pytest.raises(ChainFailure, match="no CRL distribution point"):
        check_chain(leaf.cert, [plain.cert], [com.root.cert], now=NOW, fetch=com.fetcher())


# --- token -------------------------------------------------------------------------------------

def test_token_success(rules, client, registered):
    answer = get_token(rules, *client, registered)
    assert answer.status == 200, answer.body
    assert answer.body["token_type"] == "Bearer" and answer.body["expires_in"] == 300
    assert answer.body["scope"] == "system/Patient.read" and len(answer.body["access_token"]) >= 40
    assert answer.headers["Cache-Control"] == "no-store"
    grant = rules.authorize("Bearer " + answer.body["access_token"], "Patient", now=NOW)
    assert grant.client_id == registered


def test_token_415_and_request_parameters(rules, client, registered):
    key, chain = client
    refused(get_token(rules, key, chain, registered, content_type=JSON), "invalid_request", status=415)
    a = lambda: assertion(key, chain, now=NOW, client_id=registered)  # noqa: E731
    cases = [(token_body(a(), drop=["grant_type"]), "invalid_request", "grant_type is missing"),
             (token_body(a(), grant_type="authorization_code"), "unsupported_grant_type", "client_credentials"),
             (token_body(a(), drop=["udap"]), "invalid_request", "udap=1"),
             (token_body(a(), client_assertion_type="jwt"), "invalid_request", "client_assertion_type"),
             (token_body(a(), drop=["client_assertion"]), "invalid_client", "client_assertion is missing"),
             (token_body(a(), scope=None), "invalid_request", "scope is missing"),
             (token_body(a()) + b"&udap=1", "invalid_request", "repeated")]
    for body, error, words in cases:
        refused(rules.token(FORM, body, now=NOW), error, words)


@pytest.mark.parametrize("change, words", [
    ({"drop": ["exp"]}, ["exp is missing"]),
    ({"exp": int(NOW.timestamp())}, ["expired"]),
    ({"exp": int(NOW.timestamp()) + 301}, ["exp is 301 s after iat"]),
    ({"drop": ["iat"]}, ["iat is missing"]),
    ({"iat": int(NOW.timestamp()) + 10}, ["in the future"]),
    ({"drop": ["jti"]}, ["jti is missing"]),
    ({"sub": "someone"}, ["iss and sub must both be the client_id"]),
    ({"aud": TOKEN_URL.upper()}, ["aud must be the token endpoint"]),
])
def test_assertion_claims(rules, client, registered, change, words):
    refused(get_token(rules, *client, registered, **change), "invalid_client", *words)


def test_unknown_client_and_mismatching_client_id_parameter(rules, client, registered):
    key, chain = client
    refused(get_token(rules, key, chain, "nobody"), "invalid_client", "unknown")
    body = token_body(assertion(key, chain, now=NOW, client_id=registered), client_id="other")
    refused(rules.token(FORM, body, now=NOW), "invalid_client", "client_id parameter")


def test_assertion_replay(rules, client, registered):
    body = token_body(assertion(*client, now=NOW, client_id=registered))
    assert rules.token(FORM, body, now=NOW).status == 200
    refused(rules.token(FORM, body, now=NOW), "invalid_client", "replay")


def test_assertion_must_come_with_the_registered_certificate(rules, practice_ca, client, registered):
    key, _ = client
    renewed = practice_ca.issue_from_csr(make_csr(key, [CLIENT_URI]), now=NOW)
    chain = [renewed, practice_ca.intermediate_cert]
    refused(get_token(rules, key, chain, registered), "invalid_client", "not the certificate this client registered")
    assert register(rules, key, chain).status == 200  # modification re-binds the certificate
    assert get_token(rules, key, chain, registered).status == 200


def test_token_checks_the_chain_again(practice_ca, make_rules):
    key = cached_key("rsa2048", 6)
    cert = practice_ca.issue_from_csr(make_csr(key, [CLIENT_URI]), now=NOW)
    chain = [cert, practice_ca.intermediate_cert]
    rules = make_rules()
    client_id = register(rules, key, chain).body["client_id"]
    practice_ca.revoke(cert.serial_number, now=NOW)
    refused(get_token(rules, key, chain, client_id), "invalid_client", "certificate not trusted", "revoked")


@pytest.mark.parametrize("extensions, words", [
    (None, "extensions with hl7-b2b are required"),
    (json.dumps(B2B), "must be a JSON object, not a str"),
    ({"other": {}}, "no hl7-b2b object"),
    ({"hl7-b2b": {**B2B["hl7-b2b"], "version": 1}}, 'version must be "1", not 1'),
    ({"hl7-b2b": {**B2B["hl7-b2b"], "organization_id": "Example Clinic"}}, "organization_id must be a URI"),
    ({"hl7-b2b": {**B2B["hl7-b2b"], "purpose_of_use": []}}, "purpose_of_use must be a non-empty array"),
    ({"hl7-b2b": {**B2B["hl7-b2b"], "purpose_of_use": "TREAT"}}, "purpose_of_use must be a non-empty array"),
])
def test_hl7_b2b_extension(rules, client, registered, extensions, words):
    changes = {"drop": ["extensions"]} if extensions is None else {"extensions": extensions}
    refused(get_token(rules, *client, registered, **changes), "invalid_grant", words)


def test_token_scopes_are_narrowed_to_the_registered_ones(rules, client, registered):
    answer = get_token(rules, *client, registered, scope="system/Patient.read system/Encounter.read")
    assert answer.body["scope"] == "system/Patient.read"
    refused(get_token(rules, *client, registered, scope="system/Encounter.read"), "invalid_scope", "registered")


def test_a_registered_wildcard_covers_specific_scopes(rules, client):
    key, chain = client
    client_id = register(rules, key, chain, scope="system/*.read").body["client_id"]
    assert get_token(rules, key, chain, client_id, scope="system/Encounter.read").body["scope"] == "system/Encounter.read"


def test_ec_client_works_end_to_end(practice_ca, make_rules):
    key = cached_key("p256")
    chain = [practice_ca.issue_from_csr(make_csr(key, [CLIENT_URI]), now=NOW), practice_ca.intermediate_cert]
    rules = make_rules()
    client_id = register(rules, key, chain).body["client_id"]
    assert get_token(rules, key, chain, client_id).status == 200


def test_access_checks(rules, client, registered):
    token = get_token(rules, *client, registered, scope="system/Observation.read").body["access_token"]
    assert rules.authorize(f"Bearer {token}", None, now=NOW)
    for header, now, status, resource in [(None, NOW, 401, None), ("Bearer nope", NOW, 401, None),
                                          (f"Basic {token}", NOW, 401, None),
                                          (f"Bearer {token}", NOW + timedelta(seconds=300), 401, None),
                                          (f"Bearer {token}", NOW, 403, "Patient")]:
        with pytest.raises(Refusal) as info:
            rules.authorize(header, resource, now=now)
        assert info.value.status == status


# --- registration metadata rules ----------------------------------------------------------------

AC = {"grant_types": ["authorization_code"], "response_types": ["code"],
      "redirect_uris": ["https://clinic.example.org/cb"], "logo_uri": "https://clinic.example.org/logo.png"}


@pytest.mark.parametrize("change, error, words", [
    ({"drop": ["grant_types"]}, "invalid_client_metadata", "grant_types is missing"),
    ({"grant_types": "client_credentials"}, "invalid_client_metadata", "grant_types is missing"),
    ({"grant_types": ["password"]}, "invalid_client_metadata", "'password' is unknown"),
    ({"grant_types": ["client_credentials", "authorization_code"]}, "invalid_client_metadata", "together"),
    ({"grant_types": ["client_credentials", "refresh_token"]}, "invalid_client_metadata", "only allowed with"),
    ({**AC, "redirect_uris": ["http://clinic.example.org/cb"]}, "invalid_redirect_uri", "not an absolute https"),
    ({**AC, "drop": ["redirect_uris"]}, "invalid_redirect_uri", "at least one redirect URI"),
    ({**AC, "response_types": ["token"]}, "invalid_client_metadata", "response_types"),
    ({**AC, "drop": ["logo_uri"]}, "invalid_client_metadata", "needs a logo_uri"),
    ({**AC, "logo_uri": "https://clinic.example.org/logo.svg"}, "invalid_client_metadata", "PNG, JPG or GIF"),
    (AC, "invalid_client_metadata", "authorization_code is not supported by this server"),
    ({"redirect_uris": ["https://clinic.example.org/cb"]}, "invalid_redirect_uri", "must be absent"),
    ({"response_types": ["code"]}, "invalid_client_metadata", "response_types must be absent"),
    ({"logo_uri": "http://clinic.example.org/logo.png"}, "invalid_client_metadata", "logo_uri"),
    ({"drop": ["contacts"]}, "invalid_client_metadata", "mailto:"),
    ({"contacts": ["https://clinic.example.org"]}, "invalid_client_metadata", "mailto:"),
    ({"drop": ["scope"]}, "invalid_client_metadata", "scope is missing"),
    ({"scope": "user/*.read patient/*.read"}, "invalid_client_metadata", "none of the requested scopes"),
])
def test_client_metadata_rules(rules, client, change, error, words):
    refused(register(rules, *client, **change), error, words)


def test_unsupported_scopes_are_dropped(rules, client):
    answer = register(rules, *client, scope="system/Encounter.read system/*.read system/*.read")
    assert answer.body["scope"] == "system/*.read"


def test_logo_with_image_suffix_is_accepted(rules, client):
    assert register(rules, *client, logo_uri="https://clinic.example.org/logo.GIF").status == 201


# --- modes -------------------------------------------------------------------------------------

def test_unknown_mode(make_rules):
    with pytest.raises(ValueError):
        make_rules("lenient")
    assert MODES == {"aia-only", "narrow-scopes", "bare-500", "rsa-only", "strict-clock", "echo-all"}


def test_aia_only_builds_the_chain_from_aia_and_ignores_x5c_intermediates(make_rules, practice_ca, client):
    key, chain = client
    assert register(make_rules("aia-only"), key, chain[:1]).status == 201
    refused(register(make_rules(), key, chain[:1]), "unapproved_software_statement", "no valid path")

    def no_aia(url, kind):
        if kind == "aia":
            raise NetworkError("connect_failed", url=url)
        return practice_ca.fetch(url, kind, now=NOW)
    refused(register(make_rules("aia-only", fetch=no_aia), key, chain), "unapproved_software_statement",
            "AIA caIssuers URL", "could not be fetched")
    assert register(make_rules(fetch=no_aia), key, chain).status == 201


def test_aia_only_needs_an_aia_url(make_rules):
    com = make_community()
    com.intermediate.aia_url = None
    leaf = make_leaf(com.intermediate, [CLIENT_URI])
    rules = PracticeRules(anchors=[com.root.cert], registration_url=REGISTRATION_URL, token_url=TOKEN_URL,
                          fetch=com.fetcher(), modes=["aia-only"])
    refused(register(rules, leaf.key, [leaf.cert, com.intermediate.cert]), "unapproved_software_statement",
            "has no AIA caIssuers URL")


def test_narrow_scopes_grants_only_the_first_requested_scope(make_rules, client):
    rules = make_rules("narrow-scopes")
    key, chain = client
    answer = register(rules, key, chain, scope="system/Observation.read system/Patient.read")
    assert answer.body["scope"] == "system/Observation.read"
    rules2 = make_rules("narrow-scopes")
    client_id = register(rules2, key, chain, scope="system/*.read").body["client_id"]
    token = get_token(rules2, key, chain, client_id, scope="system/Patient.read system/Observation.read")
    assert token.body["scope"] == "system/Patient.read"


def test_bare_500_answers_every_rejection_without_an_error_member(make_rules, client):
    rules = make_rules("bare-500")
    for answer in (register(rules, *client, aud="x"), register(rules, *client, content_type="text/plain"),
                   get_token(rules, *client, "nobody")):
        assert (answer.status, answer.body) == (500, None)
    assert register(rules, *client).status == 201


def test_rsa_only_fails_ec_statements_with_a_bare_500(make_rules, practice_ca, client):
    key = cached_key("p256")
    chain = [practice_ca.issue_from_csr(make_csr(key, [CLIENT_URI]), now=NOW), practice_ca.intermediate_cert]
    rules = make_rules("rsa-only")
    assert (register(rules, key, chain).status, register(rules, key, chain).body) == (500, None)
    assert register(rules, *client).status == 201


def test_strict_clock_refuses_iat_equal_to_now(make_rules, client):
    t = int(NOW.timestamp())
    refused(register(make_rules("strict-clock"), *client, iat=t), "invalid_software_statement",
            "not before the server's clock")
    assert register(make_rules("strict-clock"), *client, iat=t - 1, exp=t + 299).status == 201
    assert register(make_rules(), *client, iat=t).status == 201


def test_echo_all_echoes_every_claim(make_rules, client):
    body = register(make_rules("echo-all"), *client).body
    assert {"iss", "sub", "aud", "exp", "iat", "jti"} <= set(body)
    assert body["iss"] == CLIENT_URI and body["aud"] == REGISTRATION_URL


def test_supported_scopes_are_the_published_ones(rules):
    assert rules.scopes_supported == list(SCOPES_SUPPORTED)


def test_a_leaf_without_its_intermediate_gets_a_refusal_that_says_so():
    com = make_community()
    with pytest.raises(ChainFailure, match="only the client certificate") as e:
        check_chain(com.leaf.cert, [], [com.root.cert], now=NOW, fetch=com.fetcher())
    assert "aia-only" in str(e.value)
    with pytest.raises(ChainFailure, match="no valid path"):  # an intermediate was sent, just the wrong one
        check_chain(com.leaf.cert, [make_ca("Stranger", com.root).cert], [com.root.cert], now=NOW, fetch=com.fetcher())
