import base64
from datetime import timedelta

import pytest

from app.core import jose, statement as st
from app.core.errors import JwsError, StatementError
from tests.pki import NOW, cached_key, make_community

CLIENT = "https://client.example.org/app"
REG = "https://as.example.net/register"
SCOPES = ["system/Patient.read", "system/Observation.read", "user/*.read"]


@pytest.fixture(scope="module")
def community():
    return make_community()


def details(**kw):
    base = dict(client_uri=CLIENT, client_name="Clinic B2B", contacts=["mailto:it@clinic.example"],
                scope="system/Patient.read")
    base.update(kw)
    return st.StatementDetails(**base)


def ac_details(**kw):
    base = dict(grant=st.AUTHORIZATION_CODE, redirect_uris=["https://client.example.org/cb"],
                logo_uri="https://client.example.org/logo.png", scope="user/Patient.read")
    base.update(kw)
    return details(**base)


def codes(findings):
    return {f.code for f in findings}


def lint_ok(claims, **kw):
    kw.setdefault("now", NOW)
    return st.lint(claims, **kw)


# ------------------------------------------------------------------ claims

def test_client_credentials_claims():
    c = st.build_claims(details(), REG, now=NOW + timedelta(microseconds=900_000))
    iat = int(NOW.timestamp())
    assert c["iss"] == c["sub"] == CLIENT
    assert c["aud"] == REG
    assert c["iat"] == iat and type(c["iat"]) is int  # whole seconds, rounded down
    assert c["exp"] == iat + 300
    assert c["grant_types"] == ["client_credentials"]
    assert c["token_endpoint_auth_method"] == "private_key_jwt"
    assert c["contacts"] == ["mailto:it@clinic.example"]
    assert c["client_name"] == "Clinic B2B" and c["scope"] == "system/Patient.read"
    for absent in ("redirect_uris", "response_types", "logo_uri"):
        assert absent not in c
    assert st.jti_bits(c["jti"]) >= 128
    assert st.build_claims(details(), REG, now=NOW)["jti"] != c["jti"]
    assert lint_ok(c, registration_endpoint=REG, scopes_supported=SCOPES, client_uri=CLIENT) == []


def test_authorization_code_claims_with_and_without_refresh():
    c = st.build_claims(ac_details(), REG, now=NOW)
    assert c["grant_types"] == ["authorization_code", "refresh_token"]
    assert c["response_types"] == ["code"]
    assert c["redirect_uris"] == ["https://client.example.org/cb"]
    assert c["logo_uri"] == "https://client.example.org/logo.png"
    assert lint_ok(c, registration_endpoint=REG, scopes_supported=SCOPES) == []  # user/*.read covers it
    c2 = st.build_claims(ac_details(refresh_token=False), REG, now=NOW)
    assert c2["grant_types"] == ["authorization_code"]


def test_cancel_claims_keep_required_and_drop_ac_claims():
    c = st.build_cancel_claims(ac_details(), REG, now=NOW)
    assert c["grant_types"] == []
    for absent in ("redirect_uris", "response_types", "logo_uri"):
        assert absent not in c
    for present in ("client_name", "contacts", "token_endpoint_auth_method", "scope", "iss", "sub", "aud", "jti"):
        assert present in c
    assert lint_ok(c, registration_endpoint=REG) == []


def test_extra_claims_never_override_jwt_claims():
    c = st.build_claims(details(extra_claims={"iss": "x", "tos_uri": "https://c.example/tos"}), REG, now=NOW)
    assert c["iss"] == CLIENT and c["tos_uri"] == "https://c.example/tos"


def test_unknown_grant_and_naive_time():
    with pytest.raises(StatementError) as e:
        st.build_claims(details(grant="password"), REG, now=NOW)
    assert e.value.code == "unknown_grant"
    with pytest.raises(StatementError) as e:
        st.build_claims(details(), REG, now=NOW.replace(tzinfo=None))
    assert e.value.code == "naive_time"


# ------------------------------------------------------------------ each lint rule

def cc(**changes):
    c = st.build_claims(details(), REG, now=NOW)
    for k, v in changes.items():
        if v is ...:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def ac(**changes):
    c = st.build_claims(ac_details(), REG, now=NOW)
    for k, v in changes.items():
        if v is ...:
            c.pop(k, None)
        else:
            c[k] = v
    return c


IAT = int(NOW.timestamp())

RULES = [
    # (code, claims, lint kwargs)
    ("iss_missing", lambda: cc(iss=...), {}),
    ("sub_not_iss", lambda: cc(sub="https://other.example"), {}),
    ("iss_not_client_uri", lambda: cc(iss=CLIENT + "/", sub=CLIENT + "/"), {"client_uri": CLIENT}),
    ("aud_missing", lambda: cc(aud=...), {}),
    ("aud_not_string", lambda: cc(aud=[REG]), {}),
    ("aud_not_registration_endpoint", lambda: cc(aud=REG + "/"), {"registration_endpoint": REG}),
    ("iat_missing", lambda: cc(iat=...), {}),
    ("iat_not_whole_seconds", lambda: cc(iat=IAT + 0.5), {}),
    ("iat_in_future", lambda: cc(iat=IAT + 1, exp=IAT + 200), {}),
    ("exp_missing", lambda: cc(exp=...), {}),
    ("exp_not_whole_seconds", lambda: cc(exp=IAT + 10.5), {}),
    ("statement_expired", lambda: cc(iat=IAT - 400, exp=IAT - 100), {}),
    ("exp_not_after_iat", lambda: cc(iat=IAT - 10, exp=IAT - 310), {}),
    ("lifetime_too_long", lambda: cc(exp=IAT + 301), {}),
    ("jti_missing", lambda: cc(jti=...), {}),
    ("jti_too_short", lambda: cc(jti="0123456789abcdef0123456789abcde"), {}),  # 31 hex = 124 bits
    ("jti_too_short", lambda: cc(jti="6f1c2a0e-6b7d-4c8e-9f10-1a2b3c4d5e6f"), {}),  # uuid4: 122 bits
    ("jti_not_random", lambda: cc(jti="xy" * 20), {}),
    ("client_name_missing", lambda: cc(client_name="  "), {}),
    ("auth_method_not_private_key_jwt", lambda: cc(token_endpoint_auth_method="client_secret_basic"), {}),
    ("contacts_missing", lambda: cc(contacts=[]), {}),
    ("contacts_no_mailto", lambda: cc(contacts=["https://clinic.example/contact"]), {}),
    ("contact_not_uri", lambda: cc(contacts=["mailto:a@b.example", "it desk"]), {}),
    ("scope_missing", lambda: cc(scope=" "), {}),
    ("scope_not_supported", lambda: cc(scope="system/Patient.read system/*.read"), {"scopes_supported": SCOPES}),
    ("grant_types_missing", lambda: cc(grant_types=...), {}),
    ("grant_type_unknown", lambda: cc(grant_types=["client_credentials", "password"]), {}),
    ("grant_type_repeated", lambda: cc(grant_types=["client_credentials", "client_credentials"]), {}),
    ("grant_types_both", lambda: ac(grant_types=["authorization_code", "client_credentials"]), {}),
    ("grant_types_no_main_grant", lambda: cc(grant_types=["refresh_token"]), {}),
    ("refresh_token_without_authorization_code", lambda: cc(grant_types=["client_credentials", "refresh_token"]), {}),
    ("redirect_uris_missing", lambda: ac(redirect_uris=[]), {}),
    ("redirect_uri_not_https", lambda: ac(redirect_uris=["https://ok.example/cb", "http://127.0.0.1/cb"]), {}),
    ("response_types_not_code", lambda: ac(response_types=...), {}),
    ("logo_uri_missing", lambda: ac(logo_uri=...), {}),
    ("redirect_uris_not_allowed", lambda: cc(redirect_uris=["https://client.example.org/cb"]), {}),
    ("response_types_not_allowed", lambda: cc(response_types=["code"]), {}),
    ("logo_uri_not_https", lambda: ac(logo_uri="http://client.example.org/logo.png"), {}),
    ("logo_uri_not_image", lambda: cc(logo_uri="https://client.example.org/logo.svg"), {}),
    ("cancel_has_redirect_uris", lambda: cc(grant_types=[], redirect_uris=["https://x.example/cb"]), {}),
]


@pytest.mark.parametrize("code,make,kw", RULES, ids=[r[0] for r in RULES])
def test_each_rule_fires(code, make, kw):
    findings = lint_ok(make(), **kw)
    assert code in codes(findings), findings
    hit = next(f for f in findings if f.code == code)
    assert hit.severity in ("error", "warning")
    assert hit.to_dict()["code"] == code


@pytest.mark.parametrize("code,make,kw", RULES, ids=[r[0] for r in RULES])
def test_each_rule_quiet_on_a_good_statement(code, make, kw):
    base = ac() if code in {"grant_types_both", "redirect_uris_missing", "redirect_uri_not_https",
                            "response_types_not_code", "logo_uri_missing", "logo_uri_not_https"} else cc()
    assert code not in codes(lint_ok(base, **kw))


def test_severities_of_warnings():
    warn = {f.code: f.severity for f in lint_ok(cc(contacts=["mailto:a@b.example", "desk"]))}
    assert warn == {"contact_not_uri": "warning"}
    assert st.errors(lint_ok(cc(logo_uri="https://c.example/logo.svg")))[0].field == "logo_uri"


def test_aud_and_iss_point_at_the_differing_character():
    f = next(x for x in lint_ok(cc(aud="https://as.example.net/Register"), registration_endpoint=REG)
             if x.code == "aud_not_registration_endpoint")
    assert f.detail["position"] == len("https://as.example.net/")


def test_iss_must_be_a_san_of_the_leaf(community):
    good = lint_ok(cc(), leaf=community.leaf.cert)
    assert "iss_not_in_certificate" not in codes(good)
    bad = lint_ok(cc(iss=CLIENT + "s", sub=CLIENT + "s"), leaf=community.leaf.cert)
    f = next(x for x in bad if x.code == "iss_not_in_certificate")
    assert f.detail["closest"] == CLIENT and f.detail["position"] == len(CLIENT)


def test_scope_wildcards():
    assert st.scope_supported("system/Patient.read", ["system/*.read"])
    assert st.scope_supported("system/Patient.read", ["system/Patient.*"])
    assert not st.scope_supported("system/Patient.write", ["system/*.read"])
    assert not st.scope_supported("patient/Patient.read", ["system/*.read"])
    assert not st.scope_supported("system/*.read", ["system/Patient.read"])


def test_header_rules(community):
    x5c = jose.x5c_for([community.leaf.cert, community.intermediate.cert])
    assert lint_ok(cc(), header={"alg": "RS256", "x5c": x5c}, server_algs=["RS256"]) == []
    f = codes(lint_ok(cc(), header={"alg": "RS256", "x5c": x5c}, server_algs=["ES256"]))
    assert f == {"alg_not_supported_by_server"}
    assert codes(lint_ok(cc(), header={"x5c": x5c})) == {"alg_missing"}
    assert codes(lint_ok(cc(), header={"alg": "RS256"})) == {"x5c_missing"}
    assert codes(lint_ok(cc(), header={"alg": "RS256", "x5c": ["!!"]})) == {"x5c_unreadable"}
    with_root = x5c + jose.x5c_for([community.root.cert])
    assert codes(lint_ok(cc(), header={"alg": "RS256", "x5c": with_root})) == {"x5c_includes_root"}


# ------------------------------------------------------------------ signing

def test_sign_rsa_with_chain_without_root(community):
    claims = st.build_claims(details(), REG, now=NOW)
    chain = [community.leaf.cert, community.intermediate.cert, community.root.cert]
    signed = st.prepare_statement(claims, community.leaf.key, chain, registration_endpoint=REG, now=NOW,
                                  scopes_supported=SCOPES, server_algs=["ES256", "RS256"])
    assert signed.alg == "RS256"
    decoded = jose.verify(signed.token, ["RS256"])
    assert decoded.claims == claims
    x5c = decoded.header["x5c"]
    assert len(x5c) == 2  # root left out
    assert base64.b64decode(x5c[0], validate=True) == community.leaf.der
    assert base64.b64decode(x5c[1], validate=True) == community.intermediate.der
    assert all("\n" not in e and "-" not in e and "_" not in e for e in x5c)
    view = st.decoded_view(signed.token)
    assert set(view) == {"header", "claims"} and view["claims"] == claims
    assert signed.view()["header"]["x5c"] == x5c
    assert signed.token.split(".")[2] not in str(view)


def test_sign_ec_uses_server_list():
    key = cached_key("p256")
    c = make_community(leaf_key=key)
    signed = st.sign_statement(st.build_claims(details(), REG, now=NOW), key, [c.leaf.cert, c.intermediate.cert],
                               server_algs=["RS256", "ES256"])
    assert signed.alg == "ES256" and jose.decode(signed.token).alg == "ES256"
    with pytest.raises(JwsError) as e:
        st.sign_statement({}, key, [c.leaf.cert], server_algs=["RS256"])
    assert e.value.code == "no_common_algorithm"


def test_prepare_blocks_on_lint_errors(community):
    claims = cc(contacts=["https://clinic.example"], exp=IAT + 600)
    with pytest.raises(StatementError) as e:
        st.prepare_statement(claims, community.leaf.key, [community.leaf.cert], registration_endpoint=REG, now=NOW)
    assert e.value.code == "lint_failed"
    assert set(e.value.fields["codes"]) == {"contacts_no_mailto", "lifetime_too_long"}
    assert e.value.to_dict()["fields"]["findings"][0]["severity"] == "error"


def test_prepare_keeps_warnings_and_checks_leaf(community):
    claims = cc(contacts=["mailto:a@b.example", "desk"])
    signed = st.prepare_statement(claims, community.leaf.key, [community.leaf.cert], registration_endpoint=REG,
                                  now=NOW)
    assert codes(signed.findings) == {"contact_not_uri"}
    other = make_community(san_uris=("https://elsewhere.example/app",))
    with pytest.raises(StatementError) as e:
        st.prepare_statement(cc(), community.leaf.key, [other.leaf.cert], registration_endpoint=REG, now=NOW)
    assert "iss_not_in_certificate" in e.value.fields["codes"]
