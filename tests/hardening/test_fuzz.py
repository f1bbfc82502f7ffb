"""Fuzzing the parsers that read what others send us: only typed errors may come out.

Certificate containers (PEM, DER, PKCS#7, PKCS#12), JWS/JWT, the /.well-known/udap document,
registration and token responses, and profile.json: valid inputs mutated at byte and structure
level, and plain random input. Any exception other than an UdapOnboardError subclass fails.

Reproducible: the "udap-hardening" settings profile below is derandomized (a fixed seed per
test) and keeps no example database. UDAP_FUZZ_SCALE=20 runs 20x the examples;
UDAP_FUZZ_RANDOM=1 drops the fixed seed (for exploring; a failure prints how to replay it).
"""

from __future__ import annotations

import base64
import json
import os
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import certs, jose, registration, token, workflow
from app.core.discovery import DiscoveryReport, discover
from app.core.errors import UdapOnboardError
from app.core.evidence import AuditTrail
from app.core.http import HttpPolicy
from app.core.profile import Profile, ProfileStore
from tests.pki import NOW, make_community

settings.register_profile(
    "udap-hardening", derandomize=os.environ.get("UDAP_FUZZ_RANDOM") != "1", database=None, deadline=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.filter_too_much, HealthCheck.large_base_example])
HARDENING = settings.get_profile("udap-hardening")
SCALE = float(os.environ.get("UDAP_FUZZ_SCALE") or 1)


def fuzz(examples: int) -> settings:
    return settings(HARDENING, max_examples=max(1, int(examples * SCALE)))


BASE = "https://fhir.example.org/r4"
COMMUNITY_URI = "udap://community.example/"
TOKEN_URL = "https://as.example.org/oauth/token"
REG_URL = "https://as.example.org/oauth/register"
CLIENT_URI = "https://client.example.org/app"
TS = int(NOW.timestamp())

# ---------------------------------------------------------------- shared material (built once)


@lru_cache(maxsize=None)
def pki():
    """Server PKI (leaf SAN = BASE) for signed metadata; client PKI for statements and containers."""
    return SimpleNamespace(server=make_community(san_uris=[BASE]), client=make_community(san_uris=[CLIENT_URI]))


def _p12(key, cert, chain, encryption) -> bytes:
    return pkcs12.serialize_key_and_certificates(b"fuzz", key, cert, chain, encryption)


@lru_cache(maxsize=None)
def container_blobs() -> tuple[bytes, ...]:
    c = pki().client
    chain = [c.leaf.cert, c.intermediate.cert, c.root.cert]
    pem = b"".join(x.public_bytes(serialization.Encoding.PEM) for x in chain)
    fast_aes = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(1000)
                .key_cert_algorithm(PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256()).build(b"pw"))
    legacy = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(1000)
              .key_cert_algorithm(PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1()).build(b"pw"))
    leaf_der = c.leaf.der
    return (
        pem,
        b"Hello, here is your certificate:\r\n> " + pem.replace(b"\n", b"\r\n> ") + b"\r\nRegards",
        leaf_der,
        base64.b64encode(leaf_der),
        pkcs7.serialize_certificates(chain, serialization.Encoding.DER),
        pkcs7.serialize_certificates(chain, serialization.Encoding.PEM),
        _p12(c.leaf.key, c.leaf.cert, chain[1:], fast_aes),
        _p12(c.leaf.key, c.leaf.cert, chain[1:], legacy),
        _p12(None, c.leaf.cert, chain[1:], serialization.NoEncryption()),
        b"-----BEGIN TRUSTED CERTIFICATE-----\n" + base64.encodebytes(leaf_der + b"\x30\x03\x02\x01\x00")
        + b"-----END TRUSTED CERTIFICATE-----\n",
    )


def _sign(claims: dict, pki_part=None, alg: str | None = None) -> str:
    part = pki_part or pki().server
    return jose.sign(claims, part.leaf.key, [part.leaf.cert, part.intermediate.cert], alg=alg)


def metadata_claims() -> dict:
    return {"iss": BASE, "sub": BASE, "iat": TS - 60, "exp": TS + 300, "jti": "jti-1",
            "token_endpoint": TOKEN_URL, "registration_endpoint": REG_URL}


def metadata_doc(signed) -> dict:
    return {"udap_versions_supported": ["1"], "udap_profiles_supported": ["udap_dcr", "udap_authn", "udap_authz"],
            "udap_authorization_extensions_supported": ["hl7-b2b"],
            "udap_authorization_extensions_required": ["hl7-b2b"], "udap_certifications_supported": [],
            "udap_certifications_required": [], "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["system/*.read"], "token_endpoint": TOKEN_URL, "registration_endpoint": REG_URL,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "registration_endpoint_jwt_signing_alg_values_supported": ["RS256"], "signed_metadata": signed}


def statement_claims() -> dict:
    return {"iss": CLIENT_URI, "sub": CLIENT_URI, "aud": REG_URL, "iat": TS - 10, "exp": TS + 290,
            "jti": "a" * 43, "client_name": "Fuzz Client", "contacts": ["mailto:it@client.example.org"],
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
            "scope": "system/Patient.read"}


@lru_cache(maxsize=None)
def statements() -> tuple[str, ...]:
    cancel = dict(statement_claims(), grant_types=[])
    return _sign(statement_claims(), pki().client), _sign(cancel, pki().client)


# ---------------------------------------------------------------- strategies

SPECIAL_NUMBERS = st.sampled_from([10**400, -10**400, float("inf"), float("-inf"), float("nan"), 1e308, -0.0,
                                   2**63, -1, 0, 1, 10**20])
LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | SPECIAL_NUMBERS
          | st.text(max_size=30) | st.sampled_from(["", "https://x.example/", "removed", "Bearer", "1", "RS256",
                                                   "system/*.read", "client_credentials", "hl7-b2b", "https://[::1",
                                                   "http://a:99999999/", "https://exa mple.org/", "//x", "https:///p",
                                                   "https://user:pw@h/", "https://\x00/", "javascript:alert(1)"]))
JSON = st.recursive(LEAVES, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
                    max_leaves=12)
# Nesting that json.loads refuses with RecursionError, or parses but later code cannot walk.
DEEP = st.integers(60, 3000).flatmap(lambda n: st.sampled_from([
    b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n,
    b'{"client_id":"c","access_token":"t","scope":' + b"[" * n + b"]" * n + b"}"]))
CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/html", "text/plain",
                                 "", "application/jose", "APPLICATION/JSON"]) | st.text(max_size=30)


@st.composite
def mutated(draw, blob: bytes) -> bytes:
    """1-4 edits (bit flip, byte set, insert, delete, truncate), biased towards the header bytes."""
    data = bytearray(blob)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        i = draw(st.integers(0, min(63, len(data) - 1)) | st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0x00, 0x30, 0x80, 0x81, 0x82, 0x84, 0xFF]) | st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 16))]
        else:
            del data[i:]
    return bytes(data)


@st.composite
def json_mutated(draw, doc: dict) -> dict:
    """Replace, drop or add members of a JSON object (one level deep, and in nested lists/objects)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "drop", "add"]))
        keys = sorted(doc)
        if op == "add" or not keys:
            doc[draw(st.text(max_size=12) | st.sampled_from(sorted(doc) + ["x_endpoint", "scope"]))] = draw(JSON)
        elif op == "drop":
            doc.pop(draw(st.sampled_from(keys)))
        else:
            doc[draw(st.sampled_from(keys))] = draw(JSON)
    return doc


def typed_only(fn, *args, **kwargs):
    """Call; a typed error is an answer, anything else propagates and fails the test."""
    try:
        return fn(*args, **kwargs)
    except UdapOnboardError as exc:
        json.dumps(exc.to_dict())  # explainable: the feedback table and --json both serialize it
        return exc


# ---------------------------------------------------------------- certificates

PASSWORDS = st.sampled_from([None, b"pw", b"", b"wrong", "pw"])


@fuzz(300)
@given(data=st.data(), password=PASSWORDS)
def test_certificate_loader_on_mutated_containers(data, password):
    blob = data.draw(st.sampled_from(container_blobs()))
    result = typed_only(certs.load_certificates, data.draw(mutated(blob)), password)
    if isinstance(result, certs.LoadedBundle):
        for cert in result.certificates:
            certs.summarize(cert, NOW).to_dict()


@fuzz(150)
@given(blob=st.binary(max_size=3000), password=PASSWORDS)
def test_certificate_loader_on_random_bytes(blob, password):
    typed_only(certs.load_certificates, blob, password)


@fuzz(150)
@given(data=st.data(), label=st.sampled_from(["CERTIFICATE", "PKCS7", "PKCS12", "TRUSTED CERTIFICATE", "CMS",
                                              "X509 CERTIFICATE", "PRIVATE KEY", "CERTIFICATE REQUEST"]),
       end=st.booleans(), junk=st.binary(max_size=40))
def test_certificate_loader_on_pem_armoured_damage(data, label, end, junk):
    inner = data.draw(mutated(data.draw(st.sampled_from(container_blobs()[2:]))))
    body = data.draw(st.sampled_from([base64.encodebytes(inner), base64.b64encode(inner)[:-3], inner[:200]]))
    pem = b"-----BEGIN " + label.encode() + b"-----\n" + body + junk
    if end:
        pem += b"\n-----END " + data.draw(st.sampled_from([label, "CERTIFICATE"])).encode() + b"-----\n"
    typed_only(certs.load_certificates, pem, b"pw")


# ---------------------------------------------------------------- JWS / JWT

ALLOWED = ["RS256", "RS384", "ES256", "ES384"]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@st.composite
def mutated_text(draw, text: str) -> str:
    chars = list(text)
    for _ in range(draw(st.integers(1, 4))):
        if not chars:
            break
        i = draw(st.integers(0, len(chars) - 1))
        op = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        if op == "set":
            chars[i] = draw(st.sampled_from(list(".-_=+/ \n\x00é")) | st.characters())
        elif op == "insert":
            chars[i:i] = list(draw(st.text(max_size=6)))
        elif op == "delete":
            del chars[i:i + draw(st.integers(1, 12))]
        else:
            del chars[i:]
    return "".join(chars)


def _decode_and_verify(text):
    decoded = typed_only(jose.decode, text)
    if isinstance(decoded, jose.DecodedJws):
        typed_only(jose.verify, decoded, ALLOWED)
    typed_only(jose.verify, text, ALLOWED)


@fuzz(250)
@given(data=st.data())
def test_jwt_decoder_on_mutated_tokens(data):
    _decode_and_verify(data.draw(mutated_text(data.draw(st.sampled_from(statements())))))


@fuzz(150)
@given(header=json_mutated({"alg": "RS256", "x5c": ["MIIB"]}), claims=JSON,
       x5c=st.lists(st.sampled_from(["", "MIIB", "not base64!", "a-b_c"]) | st.just(None) | st.integers()
                    | st.builds(lambda b: base64.b64encode(b).decode(), st.binary(max_size=64)), max_size=3),
       keep_x5c=st.booleans(), sig=st.binary(max_size=300))
def test_jwt_decoder_on_forged_structures(header, claims, x5c, keep_x5c, sig):
    if not keep_x5c:
        header["x5c"] = x5c
    elif isinstance(header.get("x5c"), list):
        header["x5c"] = [base64.b64encode(pki().client.leaf.der).decode()]
    token_text = ".".join([_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()), _b64url(sig)])
    _decode_and_verify(token_text)


@fuzz(100)
@given(text=st.text(max_size=400) | st.builds(lambda p: ".".join(p), st.lists(st.text(max_size=40), max_size=5))
       | st.tuples(DEEP, DEEP).map(lambda hp: f"{_b64url(hp[0])}.{_b64url(hp[1])}.c2ln"))
def test_jwt_decoder_on_random_text(text):
    _decode_and_verify(text)


# ---------------------------------------------------------------- discovery metadata

class _Community:
    uri = COMMUNITY_URI
    revocation = "hard"

    def anchor_certificates(self):
        return [pki().server.root.cert]


def _discover_body(content: bytes, content_type: str = "application/json", status: int = 200) -> DiscoveryReport:
    def handler(request):
        return httpx.Response(status, content=content, headers={"Content-Type": content_type.encode("utf-8"),
                                                                "Date": format_datetime(NOW, usegmt=True)})
    policy = HttpPolicy(transport=httpx.MockTransport(handler), audit=AuditTrail(), clock=lambda: NOW)
    report = typed_only(discover, BASE, _Community(), policy, now=NOW, fetch=pki().server.fetcher())
    if isinstance(report, DiscoveryReport):
        json.dumps(report.to_dict())
        if report.ok:
            assert report.metadata is not None
    return report


def test_discovery_fuzz_baseline_is_valid():
    """The unmutated document passes: mutations below start from something real."""
    report = _discover_body(json.dumps(metadata_doc(_sign(metadata_claims()))).encode())
    assert isinstance(report, DiscoveryReport) and report.ok, [(r.id, r.reason) for r in report.rows]


@pytest.mark.parametrize("absent,ok", [("udap_certifications_required", True),
                                       ("udap_authorization_extensions_required", True),
                                       ("udap_authorization_extensions_supported", False),
                                       ("udap_versions_supported", False)])
def test_discovery_conditional_elements_may_be_absent(absent, ok):
    """Found by the fuzzer: an absent conditional element was failed as "not an array of strings"."""
    doc = metadata_doc(_sign(metadata_claims()))
    del doc[absent]
    report = _discover_body(json.dumps(doc).encode())
    fails = [(r.reason, r.detail.get("element")) for r in report.rows if r.status == "fail"]
    assert report.ok is ok and fails == ([] if ok else [("element_missing", absent)]), fails


@fuzz(80)
@given(claims=json_mutated(metadata_claims()), doc=json_mutated(metadata_doc("placeholder")),
       keep_signed=st.booleans())
def test_discovery_on_mutated_signed_metadata(claims, doc, keep_signed):
    if keep_signed or "signed_metadata" in doc:
        doc["signed_metadata"] = _sign(claims)
    _discover_body(json.dumps(doc).encode())


@fuzz(120)
@given(body=st.binary(max_size=400) | JSON.map(lambda v: json.dumps(v).encode()) | DEEP, content_type=CONTENT_TYPES,
       status=st.sampled_from([200, 200, 204, 301, 404, 500]))
def test_discovery_on_random_bodies(body, content_type, status):
    _discover_body(body, content_type, status)


# ---------------------------------------------------------------- registration responses

REGISTRATION_SHAPES = st.fixed_dictionaries({}, optional={
    "client_id": JSON | st.text(max_size=20), "grant_types": JSON, "scope": JSON, "software_statement": JSON,
    "client_name": JSON, "contacts": JSON, "error": JSON | st.sampled_from(list(registration.KNOWN_ERRORS)),
    "error_description": JSON, "client_secret": JSON, "registration_access_token": JSON,
    "token_endpoint_auth_method": JSON, "redirect_uris": JSON})


@fuzz(200)
@given(status=st.integers(100, 599) | st.sampled_from([200, 201, 400, 401, 500]), content_type=CONTENT_TYPES,
       body=REGISTRATION_SHAPES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=300)
       | JSON.map(lambda v: json.dumps(v).encode()) | DEEP,
       which=st.integers(0, 2), previous=st.none() | st.text(max_size=10))
def test_registration_response_parser(status, content_type, body, which, previous):
    sent = statements()[which] if which < 2 else "not.a.jwt"
    reply = registration.Reply(status=status, content_type=content_type, body=body)
    outcome = typed_only(registration.interpret, reply, sent, endpoint=REG_URL, community=COMMUNITY_URI, now=NOW,
                         previous_client_id=previous)
    if isinstance(outcome, UdapOnboardError):
        assert isinstance(outcome, registration.RegistrationError)
    else:
        json.dumps(outcome.to_dict(), default=str)
    # What the profile would keep of it must be storable (or refused with a typed error).
    record = registration.to_record(outcome, NOW)
    profile = Profile(name="fuzz")
    if record.get("client_id"):
        typed_only(profile.record_registration, REG_URL, COMMUNITY_URI, CLIENT_URI, record, now=NOW)


# ---------------------------------------------------------------- token responses

TOKEN_SHAPES = st.fixed_dictionaries({}, optional={
    "access_token": JSON | st.text(min_size=1, max_size=40), "token_type": JSON, "expires_in": JSON | SPECIAL_NUMBERS
    | st.sampled_from(["300", "1e400", "nan", "inf", "-5", " 60 ", "0x10", "3.7"]), "scope": JSON,
    "refresh_token": JSON, "error": JSON | st.sampled_from(list(token.KNOWN_ERRORS)), "error_description": JSON})


@fuzz(250)
@given(status=st.integers(100, 599) | st.sampled_from([200, 400, 401, 500]), content_type=CONTENT_TYPES,
       body=TOKEN_SHAPES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=300)
       | JSON.map(lambda v: json.dumps(v).encode()) | DEEP,
       is_ec=st.booleans(), scope=st.sampled_from(["system/Patient.read", "system/*.read user/x.read", "a"]))
def test_token_response_parser(status, content_type, body, is_ec, scope):
    result = typed_only(token.interpret_token, status, content_type, body, requested_scope=scope, alg="RS256",
                        now=NOW, is_ec=is_ec, url=TOKEN_URL)
    if isinstance(result, UdapOnboardError):
        assert isinstance(result, token.TokenError)
        return
    json.dumps(result.to_dict())
    assert result.access_token not in json.dumps(result.to_dict()) or len(result.access_token) <= 6
    typed_only(token.expires_at, result)


# ---------------------------------------------------------------- profile.json

def _profile_doc() -> dict:
    c = pki().client
    p = Profile(name="fuzz", org_name="Fuzz Org", client_name="Fuzz Client", client_uri=CLIENT_URI,
                contacts=["mailto:it@client.example.org"], org_id="https://client.example.org", key_type="ec-p256",
                key_file="key.p12", key_source="generated", csr_pem="-----BEGIN CERTIFICATE REQUEST-----\n...",
                certificate_chain_pem=[c.leaf.pem.decode(), c.intermediate.pem.decode()], community="practice",
                community_uri=COMMUNITY_URI, servers=[BASE], scopes=["system/*.read"], step="connect",
                created="2026-01-01T00:00:00+00:00", updated="2026-01-02T00:00:00+00:00",
                extra={"key_secret": "key-abc"})
    p.record_registration(REG_URL, COMMUNITY_URI, CLIENT_URI, {"client_id": "abc", "granted": {"scope": "x"},
                                                               "server": BASE, "community_name": "practice"}, now=NOW)
    p.record_token_test("abc", TOKEN_URL, now=NOW)
    doc = p.to_dict()
    return doc


PROFILE_BYTES = json.dumps(_profile_doc(), indent=2).encode()


def _load_and_use(home: Path, raw: bytes, prev: bytes | None) -> None:
    folder = home / "profiles" / "fuzz"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profile.json").write_bytes(raw)
    prev_path = folder / "profile.json.prev"
    if prev is None:
        prev_path.unlink(missing_ok=True)
    else:
        prev_path.write_bytes(prev)
    store = ProfileStore(home)
    profile = typed_only(store.load, "fuzz")
    if isinstance(profile, UdapOnboardError):
        if profile.code == "damaged" and prev is not None:
            profile = typed_only(store.restore_previous, "fuzz")
        if isinstance(profile, UdapOnboardError):
            return
    # What the app does right after loading: the step flags, the list line, the JSON view.
    state = workflow.OnboardingState.from_profile(profile, NOW)
    workflow.first_incomplete_step(state), workflow.remaining(state)
    json.dumps(profile.to_dict())
    profile.registrations_in(profile.community, profile.community_uri)


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-home")


DEEP_PROFILE = DEEP.flatmap(lambda d: st.sampled_from([
    b'{"format": 1, "name": "fuzz", "registrations": {"k": {"granted": ' + d + b"}}}",
    b'{"format": 1, "name": "fuzz", "notes": ' + d + b"}"]))


@fuzz(150)
@given(data=st.data(), with_prev=st.booleans())
def test_profile_loader_on_mutated_bytes(fuzz_home, data, with_prev):
    raw = data.draw(mutated(PROFILE_BYTES) | DEEP_PROFILE)
    _load_and_use(fuzz_home, raw, PROFILE_BYTES if with_prev else None)


@fuzz(150)
@given(doc=json_mutated(_profile_doc()), prev=st.none() | json_mutated(_profile_doc()))
def test_profile_loader_on_mutated_fields(fuzz_home, doc, prev):
    _load_and_use(fuzz_home, json.dumps(doc).encode(), json.dumps(prev).encode() if prev is not None else None)
