"""The practice server over real TLS on loopback, driven with plain httpx."""

import hashlib
import json
import socket
import ssl
from datetime import datetime, timezone

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.core import jose
from app.core.errors import SandboxError
from app.core.secrets import MemorySecretStore
from app.sandbox.chain import check_chain
from app.sandbox.server import PracticeServer
from tests.pki import cached_key
from tests.sandbox.craft import CLIENT_URI, assertion, make_csr, register_body, statement, token_body

FORM = "application/x-www-form-urlencoded"


def now():
    return datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def store():
    return MemorySecretStore()


@pytest.fixture(scope="module")
def server(tmp_path_factory, store):
    with PracticeServer(tmp_path_factory.mktemp("home"), store) as srv:
        yield srv


def https_client(srv) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cadata=srv.tls_anchor_pem), timeout=10)


@pytest.fixture(scope="module")
def http(server):
    with https_client(server) as client:
        yield client


@pytest.fixture(scope="module")
def client(server):
    key = cached_key("rsa2048", 0)
    cert = server.ca.issue_from_csr(make_csr(key, [CLIENT_URI]))
    return key, [cert, server.ca.intermediate_cert]


def post_statement(http, srv, client, **claims):
    claims.setdefault("aud", srv.registration_url)
    body = register_body(statement(*client, now=now(), **claims))
    return http.post(srv.registration_url, content=body, headers={"Content-Type": "application/json"})


def post_token(http, srv, client, client_id, scope="system/Patient.read"):
    body = token_body(assertion(*client, now=now(), client_id=client_id, aud=srv.token_url), scope=scope)
    return http.post(srv.token_url, content=body, headers={"Content-Type": FORM})


@pytest.fixture(scope="module")
def plain():
    """Plain http for AIA/CRL, made once (each new httpx client loads certifi: ~0.1 s)."""
    with httpx.Client(timeout=5) as client:
        yield client


# --- discovery ---------------------------------------------------------------------------------

def test_discovery_metadata_and_its_signature(server, http, plain):
    response = http.get(f"{server.base_url}/.well-known/udap")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    meta = response.json()
    assert meta["udap_versions_supported"] == ["1"]
    assert meta["udap_profiles_supported"] == ["udap_dcr", "udap_authn", "udap_authz"]
    assert meta["udap_authorization_extensions_supported"] == meta["udap_authorization_extensions_required"] == ["hl7-b2b"]
    assert meta["udap_certifications_supported"] == [] and meta["grant_types_supported"] == ["client_credentials"]
    assert "system/Patient.read" in meta["scopes_supported"]
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "RS256" in meta["token_endpoint_auth_signing_alg_values_supported"]
    assert meta["registration_endpoint_jwt_signing_alg_values_supported"] == \
        meta["token_endpoint_auth_signing_alg_values_supported"]
    assert (meta["token_endpoint"], meta["registration_endpoint"]) == (server.token_url, server.registration_url)
    signed = jose.verify(meta["signed_metadata"], ["RS256"])
    assert signed.header["alg"] == "RS256" and len(signed.certificates) == 2
    claims = signed.claims
    assert claims["iss"] == claims["sub"] == server.base_url
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"]
    assert (claims["token_endpoint"], claims["registration_endpoint"]) == (server.token_url, server.registration_url)
    leaf, inter = signed.certificates
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier) == [server.base_url]
    assert inter == server.ca.intermediate_cert
    anchor = x509.load_pem_x509_certificate(server.describe()["anchor_pem"].encode())
    def network_fetch(url, kind):
        response = plain.get(url)
        response.raise_for_status()
        return response.content
    chain = check_chain(leaf, [inter], [anchor], now=now(), fetch=network_fetch)  # CRLs over real http
    assert chain[-1] == anchor


def test_discovery_honours_the_community_parameter(server, http):
    url = f"{server.base_url}/.well-known/udap"
    assert http.get(url, params={"community": server.community_uri}).status_code == 200
    other = http.get(url, params={"community": "udap://other.example/"})
    assert other.status_code == 204 and other.content == b""


def test_describe(server):
    info = server.describe()
    assert info["name"] == "Practice community (this computer)"
    assert info["community_uri"] == "urn:udap-onboard:practice" and info["revocation"] == "hard"
    assert info["base_url"] == server.base_url and server.base_url.startswith("https://127.0.0.1:")
    anchor = x509.load_pem_x509_certificate(info["anchor_pem"].encode())
    digest = hashlib.sha256(anchor.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert info["anchor_fingerprint"] == ":".join(digest[i:i + 2] for i in range(0, 64, 2))
    assert x509.load_pem_x509_certificate(info["tls_anchor_pem"].encode()) == server.ca.tls_ca_cert


# --- registration, token, FHIR -----------------------------------------------------------------

def test_register_modify_token_fhir_cancel(server, http, client):
    created = post_statement(http, server, client)
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    modified = post_statement(http, server, client, scope="system/*.read")
    assert (modified.status_code, modified.json()["client_id"]) == (200, client_id)
    assert modified.headers["cache-control"] == "no-store"

    token = post_token(http, server, client, client_id)
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}

    refused = http.get(f"{server.base_url}/Patient")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert http.get(f"{server.base_url}/metadata").status_code == 401
    patients = http.get(f"{server.base_url}/Patient", headers=bearer)
    assert patients.status_code == 200 and patients.headers["content-type"] == "application/fhir+json"
    assert patients.json()["resourceType"] == "Bundle" and patients.json()["total"] == 2
    capability = http.get(f"{server.base_url}/metadata", headers=bearer)
    assert capability.json()["resourceType"] == "CapabilityStatement"

    cancelled = post_statement(http, server, client, grant_types=[])
    assert cancelled.status_code == 200 and cancelled.json()["grant_types"] == []
    after = post_token(http, server, client, client_id)
    assert after.status_code == 400 and after.json()["error"] == "invalid_client"
    assert http.get(f"{server.base_url}/Patient", headers=bearer).status_code == 401


def test_non_json_registration_is_415(server, http, client):
    body = register_body(statement(*client, now=now(), aud=server.registration_url))
    response = http.post(server.registration_url, content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json()["error"] == "invalid_request"


def test_refusals_carry_error_and_description(server, http, client):
    response = post_statement(http, server, client, aud=server.registration_url + "/")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_software_statement"
    assert "aud must be the registration endpoint" in response.json()["error_description"]


def test_unknown_paths_methods_and_oversized_bodies(server, http):
    assert http.get(f"{server.base_url}/Observation").status_code == 404
    wrong = http.get(server.token_url)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    port = int(server.base_url.split(":")[2].split("/")[0])
    ctx = ssl.create_default_context(cadata=server.tls_anchor_pem)
    for length, status in ((b"Content-Length: 2000000\r\n", b"413"), (b"", b"411")):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\n" + length + b"\r\n")
            assert tls.recv(64).startswith(b"HTTP/1.1 " + status)


# --- AIA and CRLs over plain http --------------------------------------------------------------

def test_crls_and_aia_are_downloadable_over_http(server, plain):
    ca = server.ca
    for which, issuer in (("root", ca.root_cert), ("intermediate", ca.intermediate_cert)):
        crl_response = plain.get(ca.crl_url(which))
        assert crl_response.headers["content-type"] == "application/pkix-crl"
        crl = x509.load_der_x509_crl(crl_response.content)
        assert crl.issuer == issuer.subject and crl.is_signature_valid(issuer.public_key())
        cert_response = plain.get(ca.aia_url(which))
        assert cert_response.headers["content-type"] == "application/pkix-cert"
        assert x509.load_der_x509_certificate(cert_response.content) == issuer
    assert server.http_base == f"http://127.0.0.1:{ca.http_port}"
    assert plain.get(f"{server.http_base}/crl/unavailable.crl").status_code == 404
    assert plain.post(ca.crl_url("root")).status_code == 405


# --- modes over the wire -----------------------------------------------------------------------

def test_bare_500_mode_answers_without_an_error_member(tmp_path, store):
    with PracticeServer(tmp_path, store, modes={"bare-500"}) as srv, https_client(srv) as http:
        key = cached_key("rsa2048", 0)
        chain = [srv.ca.issue_from_csr(make_csr(key, [CLIENT_URI])), srv.ca.intermediate_cert]
        response = post_statement(http, srv, (key, chain), aud="https://elsewhere.example/register")
        assert (response.status_code, response.text) == (500, "Internal Server Error")
        assert response.headers["content-type"].startswith("text/plain")


def test_unknown_mode_is_refused(tmp_path, store):
    with pytest.raises(SandboxError) as info:
        PracticeServer(tmp_path, store, modes={"lenient"})
    assert info.value.code == "unknown_mode"


# --- lifecycle ---------------------------------------------------------------------------------

def test_restart_keeps_urls_ports_and_registrations_and_stop_closes_sockets(tmp_path, store, capsys):
    first = PracticeServer(tmp_path, store).start()
    created = first.startup_seconds
    key = cached_key("rsa2048", 0)
    client = (key, [first.ca.issue_from_csr(make_csr(key, [CLIENT_URI])), first.ca.intermediate_cert])
    with https_client(first) as http:
        client_id = post_statement(http, first, client).json()["client_id"]
    urls = (first.base_url, first.http_base)
    first.stop()
    first.stop()  # idempotent
    assert not first.running
    for url in urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, verify=False, timeout=2)
    with PracticeServer(tmp_path, store) as second, https_client(second) as http:
        assert (second.base_url, second.http_base) == urls
        assert post_token(http, second, client, client_id).status_code == 200
        reused = second.startup_seconds
    with capsys.disabled():
        print(f"\npractice server start: first creation {created:.2f} s, reuse {reused:.2f} s")


def test_ports_in_use_are_reported(server, store):
    home = server.ca.folder.parent
    taken = int(server.base_url.split(":")[2].split("/")[0])
    with pytest.raises(SandboxError) as info:
        PracticeServer(home, store, port=taken).start()
    assert info.value.code == "port_in_use"
    with PracticeServer(home, store) as second:  # same folder, same process: shares the CA's http port
        assert second.http_base == server.http_base and second.base_url != server.base_url
    # another program on the CA's http port: tests/sandbox/test_many_servers.py
    with socket.create_connection(("127.0.0.1", taken), timeout=2):
        pass  # the first server is unharmed


def test_describe_needs_a_running_server(tmp_path, store):
    with pytest.raises(SandboxError) as info:
        PracticeServer(tmp_path, store).describe()
    assert info.value.code == "not_started"


def test_tls_refuses_a_client_that_does_not_trust_the_practice_tls_ca(server):
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/.well-known/udap", timeout=5)
    with https_client(server) as http:  # and the server survived the failed handshake
        assert http.get(f"{server.base_url}/.well-known/udap").status_code == 200


def test_metadata_is_freshly_signed_each_time(server, http):
    url = f"{server.base_url}/.well-known/udap"
    a, b = (json.loads(http.get(url).content)["signed_metadata"] for _ in range(2))
    assert jose.decode(a).claims["jti"] != jose.decode(b).claims["jti"]
