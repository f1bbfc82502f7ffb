"""A third-party server accepts the client certificates the practice CA issues.

Everything a relying party needs is taken from the certificate itself and fetched over plain http
from the running practice server: the intermediate through AIA caIssuers, the CRLs through the
CRL distribution points. Then two verifiers that share no code with app.core.trust or the
server's rules: the openssl command line and cryptography's x509.verification path builder.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from app.core.secrets import MemorySecretStore
from app.sandbox.server import PracticeServer
from tests.pki import cached_key
from tests.sandbox.thirdparty import aia_url, crl_url, csr_for, fetch_crl, fetch_issuer, revoked, verify_path

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PracticeServer(tmp_path_factory.mktemp("openssl-interop"), MemorySecretStore()) as srv:
        yield srv


@pytest.fixture(scope="module")
def plain():
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def anchor(server):
    return x509.load_pem_x509_certificate(server.describe()["anchor_pem"].encode())


def issue(server, uri: str) -> x509.Certificate:
    return server.ca.issue_from_csr(csr_for(cached_key("rsa2048", 0), uri))


def relying_party_files(tmp: Path, plain: httpx.Client, leaf: x509.Certificate, anchor: x509.Certificate) -> dict:
    """What a third-party server assembles by itself: issuer via AIA, both CRLs via their DPs."""
    intermediate = fetch_issuer(plain, leaf)
    files = {"leaf": leaf.public_bytes(Encoding.PEM), "intermediate": intermediate.public_bytes(Encoding.PEM),
             "root": anchor.public_bytes(Encoding.PEM),
             # DER as served (application/pkix-crl); openssl reads DER or PEM
             "leaf-crl": plain.get(crl_url(leaf)).content, "intermediate-crl": plain.get(crl_url(intermediate)).content}
    paths = {}
    for name, data in files.items():
        paths[name] = tmp / f"{name}.{'crl' if name.endswith('crl') else 'pem'}"
        paths[name].write_bytes(data)
    return paths


def openssl_verify(paths: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([OPENSSL, "verify", "-x509_strict", "-crl_check_all", *extra,
                           "-CAfile", str(paths["root"]), "-untrusted", str(paths["intermediate"]),
                           "-CRLfile", str(paths["leaf-crl"]), "-CRLfile", str(paths["intermediate-crl"]),
                           str(paths["leaf"])], capture_output=True, text=True, timeout=30)


def test_aia_and_crl_urls_are_plain_http_on_the_practice_server(server, plain, anchor):
    leaf = issue(server, "https://relying.example.org/udap/urls")
    intermediate = fetch_issuer(plain, leaf)
    for url in (aia_url(leaf), crl_url(leaf), aia_url(intermediate), crl_url(intermediate)):
        assert url.startswith(server.http_base + "/"), url  # RFC 5280: http, never https (no TLS loop)
    assert intermediate == server.ca.intermediate_cert
    assert fetch_issuer(plain, intermediate) == anchor  # the intermediate's AIA leads to the published anchor
    assert fetch_crl(plain, leaf).issuer == intermediate.subject
    assert fetch_crl(plain, intermediate).issuer == anchor.subject


@needs_openssl
def test_openssl_verifies_the_chain_with_crls_from_the_distribution_points(server, plain, anchor, tmp_path):
    leaf = issue(server, "https://relying.example.org/udap/openssl")
    result = openssl_verify(relying_party_files(tmp_path, plain, leaf, anchor))
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stdout + result.stderr


@needs_openssl
def test_openssl_says_certificate_revoked_once_the_ca_revokes_it(server, plain, anchor, tmp_path):
    leaf = issue(server, "https://relying.example.org/udap/revoked")
    server.ca.revoke(leaf.serial_number)
    result = openssl_verify(relying_party_files(tmp_path, plain, leaf, anchor))
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr


@needs_openssl
def test_openssl_refuses_without_the_crls(server, plain, anchor, tmp_path):
    """The check above is real: with -crl_check_all and no CRL, openssl cannot say OK."""
    leaf = issue(server, "https://relying.example.org/udap/no-crl")
    paths = relying_party_files(tmp_path, plain, leaf, anchor)
    result = subprocess.run([OPENSSL, "verify", "-crl_check_all", "-CAfile", str(paths["root"]),
                             "-untrusted", str(paths["intermediate"]), str(paths["leaf"])],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "unable to get certificate CRL" in result.stdout + result.stderr


def test_cryptography_path_builder_accepts_it_and_the_crl_lists_revoked_serials(server, plain, anchor):
    leaf = issue(server, "https://relying.example.org/udap/cryptography")
    verified = verify_path(plain, leaf, [fetch_issuer(plain, leaf)], anchor)  # default web-PKI client policy
    assert verified.chain == [leaf, server.ca.intermediate_cert, anchor]
    sans = [n.value for n in verified.subjects if isinstance(n, x509.UniformResourceIdentifier)]
    assert sans == ["https://relying.example.org/udap/cryptography"]

    gone = issue(server, "https://relying.example.org/udap/cryptography-revoked")
    assert not revoked(plain, gone, server.ca.intermediate_cert)
    server.ca.revoke(gone.serial_number)
    assert revoked(plain, gone, server.ca.intermediate_cert)  # the refetched CRL lists it
