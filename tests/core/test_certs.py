"""Certificate loading (every container, every kind of damage), chain order, summaries, checks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import certs as C
from app.core.errors import CertificateError
from tests.pki import NOW, cached_key, make_ca, make_community, make_leaf, name

URI = "https://client.example.org/app"
ROOT = Path(__file__).resolve().parents[2]
HAS_OPENSSL = shutil.which("openssl") is not None
EMPTY_PKCS7_DER = bytes.fromhex("302306092a864886f70d010702a01630140201013100300b06092a864886f70d0107013100")


@pytest.fixture(scope="module")
def com():
    return make_community()


@pytest.fixture(scope="module")
def chain(com):
    return [com.leaf.cert, com.intermediate.cert, com.root.cert]


def p12(com, encryption, *, key=True):
    return pkcs12.serialize_key_and_certificates(
        b"client", com.leaf.key if key else None, com.leaf.cert, [com.intermediate.cert, com.root.cert], encryption)


def legacy_3des(password: bytes):
    return (serialization.PrivateFormat.PKCS12.encryption_builder()
            .key_cert_algorithm(PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1()).build(password))


def code_of(fn, *args, **kw) -> CertificateError:
    with pytest.raises(CertificateError) as e:
        fn(*args, **kw)
    return e.value


# --- formats ----------------------------------------------------------------------------------------

def test_pem_chain_pasted_from_mail_with_junk(com, chain):
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    quoted = b"\r\n".join(b"> " + (b"   " if i % 3 else b"") + line for i, line in enumerate(pem.splitlines()))
    mail = b"Hello,\r\nhere is your certificate:\r\n\r\n" + quoted + b"\r\n> Regards, the CA\r\n"
    bundle = C.load_certificates(mail + com.leaf.pem)  # the leaf again: duplicates are dropped
    assert bundle.certificates == chain and bundle.key is None and bundle.source_format == "pem"


def test_der_certificate(com):
    bundle = C.load_certificates(com.leaf.der)
    assert bundle.certificates == [com.leaf.cert] and bundle.source_format == "der"


def test_bare_base64_der(com):
    bundle = C.load_certificates(base64.encodebytes(com.leaf.der))
    assert bundle.certificates == [com.leaf.cert] and bundle.source_format == "base64-der"


@pytest.mark.parametrize("encoding, fmt", [(serialization.Encoding.PEM, "pkcs7-pem"),
                                           (serialization.Encoding.DER, "pkcs7-der")])
def test_pkcs7(chain, encoding, fmt):
    blob = pkcs7.serialize_certificates(list(reversed(chain)), encoding)
    bundle = C.load_certificates(blob)
    assert set(bundle.certificates) == set(chain) and bundle.source_format == fmt


def test_pkcs7_without_certificates():
    assert code_of(C.load_certificates, EMPTY_PKCS7_DER).code == "no_certificates"


@pytest.mark.parametrize("encryption", [
    serialization.BestAvailableEncryption(b"s3cret"),
    serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(1000)
    .key_cert_algorithm(PBES.PBESv2SHA256AndAES256CBC).build(b"s3cret"),
    legacy_3des(b"s3cret"),
], ids=["best", "aes256", "3des"])
def test_pkcs12_with_key(com, chain, encryption):
    bundle = C.load_certificates(p12(com, encryption), b"s3cret")
    assert bundle.source_format == "pkcs12" and bundle.certificates == chain
    assert C.key_fingerprint(bundle.key) == C.key_fingerprint(com.leaf.key)


def test_pkcs12_password_may_be_text(com):
    assert C.load_certificates(p12(com, legacy_3des(b"p\xc3\xa4ss")), "päss").key is not None


@pytest.mark.skipif(not HAS_OPENSSL, reason="openssl not installed")
def test_openssl_trusted_certificate_pem(com):
    r = subprocess.run(["openssl", "x509", "-trustout", "-addtrust", "clientAuth"], input=com.leaf.pem,
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith(b"-----BEGIN TRUSTED CERTIFICATE-----")
    assert C.load_certificates(r.stdout).certificates == [com.leaf.cert]


def test_pkcs12_unencrypted_needs_no_password(com, chain):
    bundle = C.load_certificates(p12(com, serialization.NoEncryption(), key=False))
    assert bundle.certificates == chain and bundle.key is None


@pytest.mark.parametrize("encryption", [serialization.BestAvailableEncryption(b"s3cret"), legacy_3des(b"s3cret")],
                         ids=["aes", "3des"])
def test_pkcs12_password_errors(com, encryption):
    blob = p12(com, encryption)
    assert code_of(C.load_certificates, blob).code == "pkcs12_password_required"
    err = code_of(C.load_certificates, blob, b"hunter2")
    assert err.code == "pkcs12_wrong_password" and "hunter2" not in repr(err.to_dict())
    assert code_of(C.load_certificates, blob, b"").code == "pkcs12_wrong_password"


@pytest.fixture(scope="module")
def rc2_p12(com, tmp_path_factory):
    """A PKCS#12 as old Windows / Java tools make it: certificates under RC2-40, key under 3DES."""
    if not HAS_OPENSSL:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("rc2")
    (d / "key.pem").write_bytes(com.leaf.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"k")))
    (d / "chain.pem").write_bytes(com.leaf.pem + com.intermediate.pem)
    r = subprocess.run(["openssl", "pkcs12", "-export", "-legacy", "-certpbe", "PBE-SHA1-RC2-40", "-keypbe",
                        "PBE-SHA1-3DES", "-inkey", "key.pem", "-passin", "pass:k", "-in", "chain.pem",
                        "-passout", "pass:legacy", "-out", "rc2.p12"], cwd=d, capture_output=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"openssl refuses to make an RC2-40 PKCS#12: {r.stderr[-200:]!r}")
    return d / "rc2.p12"


def test_pkcs12_rc2_40(rc2_p12, com):
    bundle = C.load_certificate_files([rc2_p12], b"legacy")
    assert bundle.certificates[0] == com.leaf.cert and com.intermediate.cert in bundle.certificates
    assert C.key_fingerprint(bundle.key) == C.key_fingerprint(com.leaf.key)
    assert code_of(C.load_certificate_files, [rc2_p12], b"nope").code == "pkcs12_wrong_password"


def test_pkcs12_rc2_40_without_legacy_provider_is_a_clear_error(rc2_p12):
    """cryptography without OpenSSL's legacy provider cannot decrypt RC2: say so, not "wrong password"."""
    script = ("from app.core.certs import load_certificate_files\n"
              "from app.core.errors import CertificateError\n"
              f"try:\n    load_certificate_files([{str(rc2_p12)!r}], b'legacy')\n    print('loaded')\n"
              "except CertificateError as e:\n    print(e.code, e.fields.get('algorithm'))\n")
    env = {**os.environ, "CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["pkcs12_unsupported_encryption", "RC2-40"]


def test_pem_private_key_block_is_never_decoded(com):
    key_pem = com.leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    bundle = C.load_certificates(key_pem + com.leaf.pem)
    assert bundle.certificates == [com.leaf.cert] and bundle.key is None
    err = code_of(C.load_certificates, key_pem)
    assert err.code == "no_certificates" and err.fields["found"] == ["PRIVATE KEY"]


def test_csr_pasted_instead_of_certificate():
    from app.core.csr import Subject, build_csr, csr_pem
    text = csr_pem(build_csr(cached_key("p256"), Subject("App", "Org"), [URI])).encode()
    assert code_of(C.load_certificates, text).code == "csr_not_certificate"


def test_several_files_are_merged(tmp_path, com, chain):
    (tmp_path / "leaf.cer").write_bytes(com.leaf.der)
    (tmp_path / "chain.p7b").write_bytes(pkcs7.serialize_certificates(chain[1:], serialization.Encoding.DER))
    bundle = C.load_certificate_files([tmp_path / "leaf.cer", str(tmp_path / "chain.p7b")])
    # PKCS#7 holds a SET: the order inside it is not the chain order (order_chain fixes that)
    assert bundle.certificates[0] == com.leaf.cert and set(bundle.certificates) == set(chain)
    assert bundle.source_format == "der+pkcs7-der"
    assert C.load_certificate_files(tmp_path / "leaf.cer").certificates == [com.leaf.cert]


# --- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, code", [
    (b"", "empty"), (b" \r\n\t", "empty"),
    (b"hello, this is not a certificate", "unrecognized_format"),
    (os.urandom(0) + bytes(range(256)) * 40, "unrecognized_format"),
    (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "truncated_pem"),
    (b"-----BEGIN CERTIFICATE-----\nMII*B==\n-----END CERTIFICATE-----\n", "malformed_pem"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "malformed_pem"),
    (b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END X509 CRL-----\n", "truncated_pem"),
])
def test_bad_bytes(data, code):
    assert code_of(C.load_certificates, data).code == code


def test_pem_with_lost_lines_and_missing_end(com):
    lines = com.leaf.pem.decode().splitlines()
    cut = "\n".join(lines[:6] + lines[10:]).encode()  # four base64 lines lost in copy-paste
    err = code_of(C.load_certificates, cut)
    assert err.code in ("truncated_pem", "malformed_pem") and err.fields["index"] == 0
    no_end = com.intermediate.pem + b"\n".join(com.leaf.pem.splitlines()[:-1])
    err = code_of(C.load_certificates, no_end)
    assert err.code == "truncated_pem" and err.fields == {"index": 1, "label": "CERTIFICATE"}
    missing_middle_end = b"\n".join(com.leaf.pem.splitlines()[:-1]) + b"\n" + com.root.pem
    assert code_of(C.load_certificates, missing_middle_end).fields["index"] == 0


def test_truncated_and_damaged_der(com):
    err = code_of(C.load_certificates, com.leaf.der[:300])
    assert err.code == "truncated_der" and err.fields["actual_bytes"] == 300
    damaged = bytearray(com.leaf.der)
    damaged[8] = 0x04  # the [0] version tag of TBSCertificate becomes an OCTET STRING
    assert code_of(C.load_certificates, bytes(damaged)).code == "malformed_der"
    assert code_of(C.load_certificates, b"\x30\x03\x02\x01\x03").code == "pkcs12_password_required"


def test_empty_missing_and_unreadable_files(tmp_path):
    (tmp_path / "empty.pem").write_bytes(b"")
    err = code_of(C.load_certificate_files, [tmp_path / "empty.pem"])
    assert err.code == "empty" and err.fields["path"].endswith("empty.pem")
    assert code_of(C.load_certificate_files, [tmp_path / "nope.pem"]).code == "file_not_found"
    assert code_of(C.load_certificate_files, [tmp_path]).code == "file_unreadable"
    (tmp_path / "junk.txt").write_bytes(b"junk")
    err = code_of(C.load_certificate_files, [tmp_path / "junk.txt"])
    assert err.code == "unrecognized_format" and err.fields["path"].endswith("junk.txt")


def _bytes_read() -> int | None:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return int(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("rchar:")))


def test_huge_garbage_file_refused_quickly_without_reading_it(tmp_path):
    big = tmp_path / "garbage.bin"
    with open(big, "wb") as f:  # sparse: 50 MB without writing 50 MB
        f.truncate(50 * 2**20)
    limit = 64 * 1024
    before, start = _bytes_read(), time.perf_counter()
    err = code_of(C.load_certificate_files, [big], limit=limit)
    elapsed, after = time.perf_counter() - start, _bytes_read()
    assert err.code == "file_too_large" and err.fields["limit"] == limit
    assert elapsed < 1.0
    if before is not None:
        assert after - before < limit + 1 + 256 * 1024  # slack for anything else the process read
    assert code_of(C.load_certificates, b"x" * 11, limit=10).code == "too_large"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_input_only_ever_raises_certificate_error(com, data):
    """Truncate or flip bytes of every valid format: the result loads or is a typed error, nothing else."""
    samples = [com.leaf.pem, com.leaf.der, pkcs7.serialize_certificates([com.leaf.cert], serialization.Encoding.DER),
               _FUZZ_P12(com)]
    blob = bytearray(data.draw(st.sampled_from(samples)))
    cut = data.draw(st.integers(0, len(blob)))
    pos = data.draw(st.integers(0, len(blob) - 1))
    blob[pos] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        blob = blob[:cut]
    try:
        bundle = C.load_certificates(bytes(blob), data.draw(st.sampled_from([None, b"pw"])))
    except CertificateError:
        return
    for cert in bundle.certificates:  # whatever loads must also summarize and check without crashing
        C.summarize(cert, NOW)
        C.check_client_certificate(cert, com.leaf.key, URI, NOW)
        C.order_chain(cert, bundle.certificates)


def _FUZZ_P12(com, _cache={}):
    if "p12" not in _cache:
        enc = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(10)
               .key_cert_algorithm(PBES.PBESv2SHA256AndAES256CBC).build(b"pw"))
        _cache["p12"] = p12(com, enc)
    return _cache["p12"]


# --- leaf and chain -----------------------------------------------------------------------------------

def test_find_leaf_and_order_chain(com, chain):
    shuffled = [com.root.cert, com.leaf.cert, com.intermediate.cert]
    assert C.find_leaf(shuffled, com.leaf.key) == com.leaf.cert
    assert C.find_leaf(shuffled, com.leaf.key.public_key()) == com.leaf.cert
    stranger = make_ca("Someone Else CA").cert
    assert C.order_chain(com.leaf.cert, shuffled + [stranger]) == chain
    assert C.order_chain(com.leaf.cert, [com.root.cert]) == [com.leaf.cert]


def test_order_chain_ignores_same_name_impostor(com, chain):
    impostor = make_ca("Test Intermediate CA", com.root, key=cached_key("rsa2048", 99)).cert
    assert impostor.subject == com.intermediate.cert.subject
    assert C.order_chain(com.leaf.cert, [impostor, com.intermediate.cert, com.root.cert]) == chain


def test_find_leaf_for_another_key(com, chain):
    err = code_of(C.find_leaf, chain, cached_key("p256"))
    assert err.code == "no_certificate_for_key"
    assert err.fields["key_fingerprint"] == C.key_fingerprint(cached_key("p256"))
    assert len(err.fields["certificates"]) == 3


def test_find_leaf_prefers_latest_renewal(com):
    old = make_leaf(com.intermediate, not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=35))
    assert C.find_leaf([com.leaf.cert, old.cert], com.leaf.key) == com.leaf.cert
    assert C.find_leaf([old.cert, com.leaf.cert], com.leaf.key) == com.leaf.cert


# --- summary --------------------------------------------------------------------------------------

def test_summary(com):
    leaf = make_leaf(com.intermediate, [URI, "https://client.example.org/b"], key=cached_key("p256"),
                     san_dns=["client.example.org"], eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    s = C.summarize(leaf.cert, NOW)
    assert s.subject == "O=Test Clinic,CN=Test Client" and s.issuer == "O=Test Community,CN=Test Intermediate CA"
    assert int(s.serial, 16) == leaf.cert.serial_number and len(s.serial) % 2 == 0
    assert s.days_left == 335 and s.not_after == NOW + dt.timedelta(days=335)
    assert s.san_uris == [URI, "https://client.example.org/b"] and s.san_other == ["DNS:client.example.org"]
    assert s.key_type == "EC P-256" and s.key_usage == ["digitalSignature"]
    assert s.extended_key_usage == ["clientAuth"] and s.is_ca is False
    assert s.aia_ca_issuers == ["http://pki.test/intermediate.cer"] and s.aia_ocsp == []
    assert s.crl_urls == ["http://pki.test/intermediate.crl"]
    assert s.fingerprint == hashlib.sha256(leaf.der).digest().hex(":").upper()
    d = json.loads(json.dumps(s.to_dict()))
    assert d["not_after"].startswith("2027-05-02") and d["fingerprint"] == s.fingerprint
    root = C.summarize(com.root.cert, NOW)
    assert root.is_ca and root.key_type == "RSA 2048" and "keyCertSign" in root.key_usage


def test_fingerprint_and_san_uris(com):
    assert C.fingerprint(com.leaf.cert) == com.leaf.cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert C.san_uris(com.leaf.cert) == [URI]
    assert C.san_uris(com.root.cert) == []


# --- checks -----------------------------------------------------------------------------------------

def codes(problems):
    return [(p.code, p.severity) for p in problems]


def test_good_certificate_has_no_problems(com):
    assert C.check_client_certificate(com.leaf.cert, com.leaf.key, URI, NOW) == []


def test_key_mismatch(com):
    problems = C.check_client_certificate(com.leaf.cert, cached_key("p256"), URI, NOW)
    assert codes(problems) == [("key_mismatch", "error")]
    assert problems[0].fields["our_key"] == C.key_fingerprint(cached_key("p256"))


@pytest.mark.parametrize("expected, closest, position, difference", [
    (URI + "/", URI, len(URI), "trailing_slash"),
    ("https://Client.example.org/app", URI, 8, "case"),
    ("https://client.example.org/application", "https://client.example.org/application2", 38, "other"),
    ("https://client.example.org/apq", URI, 29, "other"),
])
def test_client_uri_missing_points_at_first_difference(com, expected, closest, position, difference):
    leaf = make_leaf(com.intermediate, ["https://other.example.net/x", URI, "https://client.example.org/application2"])
    problems = C.check_client_certificate(leaf.cert, leaf.key, expected, NOW)
    assert codes(problems) == [("client_uri_missing", "error")]
    f = problems[0].fields
    assert (f["expected"], f["closest"], f["position"], f["difference"]) == (expected, closest, position, difference)
    assert problems[0].to_dict()["fields"]["san_uris"][0] == "https://other.example.net/x"


def test_no_uri_san(com):
    leaf = make_leaf(com.intermediate, None, san_dns=["client.example.org"])
    assert codes(C.check_client_certificate(leaf.cert, leaf.key, URI, NOW)) == [("no_uri_san", "error")]


@pytest.mark.parametrize("nb, na, expected", [
    (-400, -1, [("expired", "error")]),
    (1, 400, [("not_yet_valid", "error")]),
    (-300, 29, [("expires_soon", "warning")]),
    (-300, 30, []),
])
def test_validity(com, nb, na, expected):
    leaf = make_leaf(com.intermediate, not_before=NOW + dt.timedelta(days=nb), not_after=NOW + dt.timedelta(days=na))
    problems = C.check_client_certificate(leaf.cert, leaf.key, URI, NOW)
    assert codes(problems) == expected
    if expected and expected[0][0] == "expires_soon":
        assert problems[0].fields["days_left"] == 29


def test_usage_ca_and_key_strength(com):
    leaf = make_leaf(com.intermediate, digital_signature=False)
    problems = C.check_client_certificate(leaf.cert, leaf.key, URI, NOW)
    assert codes(problems) == [("no_digital_signature", "error")]
    assert problems[0].fields["key_usage"] == ["keyEncipherment"]
    leaf = make_leaf(com.intermediate, is_ca=True)
    assert codes(C.check_client_certificate(leaf.cert, leaf.key, URI, NOW)) == [("is_ca", "error")]
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaf = make_leaf(com.intermediate, key=weak)
    assert codes(C.check_client_certificate(leaf.cert, weak, URI, NOW)) == [("weak_key", "error")]
    ed = ed25519.Ed25519PrivateKey.generate()
    leaf = make_leaf(com.intermediate, key=ed)
    assert codes(C.check_client_certificate(leaf.cert, ed, URI, NOW)) == [("unsupported_key_type", "error")]
    assert C.summarize(leaf.cert, NOW).key_type == "Ed25519"


def test_no_key_usage_is_a_warning(com):
    key = cached_key("p256")
    cert = (x509.CertificateBuilder().subject_name(name("No KU")).issuer_name(com.intermediate.cert.subject)
            .public_key(key.public_key()).serial_number(7).not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=100))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(URI)]), critical=False)
            .sign(com.intermediate.key, hashes.SHA256()))
    assert codes(C.check_client_certificate(cert, key, URI, NOW)) == [("no_key_usage", "warning")]
    assert C.summarize(cert, NOW).key_usage == []


def test_several_problems_at_once(com):
    leaf = make_leaf(com.intermediate, ["http://client.example.org/app"], is_ca=True, digital_signature=False,
                     not_after=NOW - dt.timedelta(days=2))
    found = [c for c, _ in codes(C.check_client_certificate(leaf.cert, cached_key("p384"), URI, NOW))]
    assert found == ["key_mismatch", "client_uri_missing", "expired", "no_digital_signature", "is_ca"]


@pytest.mark.parametrize("a, b, i", [("abc", "abc", 3), ("abc", "abd", 2), ("ab", "abc", 2), ("", "x", 0),
                                     ("x", "y", 0)])
def test_first_difference(a, b, i):
    assert C.first_difference(a, b) == i == C.first_difference(b, a)
