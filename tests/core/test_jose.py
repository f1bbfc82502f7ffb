import base64
import json

import pytest

from app.core import jose
from app.core.errors import JwsError
from tests.pki import cached_key, make_community


@pytest.fixture(scope="module")
def community():
    return make_community()


def test_sign_and_verify_with_real_chain(community):
    token = jose.sign({"iss": "a"}, community.leaf.key, [community.leaf.cert, community.intermediate.cert])
    decoded = jose.verify(token, ["RS256"])
    assert decoded.claims == {"iss": "a"}
    assert decoded.header["alg"] == "RS256"
    assert len(decoded.header["x5c"]) == 2
    # standard base64, no line breaks, DER of the leaf
    assert base64.b64decode(decoded.header["x5c"][0]) == community.leaf.der
    assert len(token.split(".")[0]) > 512  # the header is bigger than joserfc's default cap


@pytest.mark.parametrize("kind,alg", [("p256", "ES256"), ("p384", "ES384")])
def test_ec_algorithms(kind, alg):
    key = cached_key(kind)
    c = make_community(leaf_key=key)
    token = jose.sign({"x": 1}, key, [c.leaf.cert])
    assert jose.decode(token).alg == alg
    jose.verify(token, [alg])
    with pytest.raises(JwsError) as e:
        jose.verify(token, ["RS256"])
    assert e.value.code == "alg_not_allowed"


def _forge(header, claims, sig="AAAA"):
    enc = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
    return f"{enc(header)}.{enc(claims)}.{sig}"


def test_rejects_none_and_hmac(community):
    x5c = jose.x5c_for([community.leaf.cert])
    for alg in ("none", "HS256"):
        with pytest.raises(JwsError) as e:
            jose.verify(_forge({"alg": alg, "x5c": x5c}, {}), ["RS256", alg])
        assert e.value.code == "alg_forbidden"


def test_rejects_base64url_x5c_and_missing_x5c(community):
    der = community.leaf.der
    url = base64.urlsafe_b64encode(der).decode()
    if "-" not in url and "_" not in url:
        url = url + "-"
    with pytest.raises(JwsError) as e:
        jose.decode(_forge({"alg": "RS256", "x5c": [url]}, {}))
    assert e.value.code in ("x5c_base64url", "x5c_not_base64")
    with pytest.raises(JwsError) as e:
        jose.verify(_forge({"alg": "RS256"}, {}), ["RS256"])
    assert e.value.code == "x5c_missing"


def test_bad_signature(community):
    token = jose.sign({"a": 1}, community.leaf.key, [community.leaf.cert])
    h, p, s = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"a":2}').rstrip(b"=").decode()
    tampered = f"{h}.{forged}.{s}"
    with pytest.raises(JwsError) as e:
        jose.verify(tampered, ["RS256"])
    assert e.value.code == "bad_signature"


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!!.e30.x", "e30.W10.x"])
def test_malformed(token):
    with pytest.raises(JwsError):
        jose.decode(token)


def test_choose_algorithm():
    rsa = cached_key("rsa2048")
    assert jose.choose_algorithm(rsa, ["ES256", "RS256"]) == "RS256"
    assert jose.choose_algorithm(rsa, None) == "RS256"
    with pytest.raises(JwsError) as e:
        jose.choose_algorithm(rsa, ["ES256"])
    assert e.value.code == "no_common_algorithm"
