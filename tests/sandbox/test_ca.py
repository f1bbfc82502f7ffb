"""The practice CA: persistence, encrypted keys, issuance from a CSR, CRLs and revocation."""

import json
import os
import stat
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from app.core.errors import KeyContainerError, NetworkError, SandboxError, SecretStoreError
from app.core.keys import decrypt_key
from app.core.secrets import MemorySecretStore
from app.sandbox.ca import PORT_RANGE, PracticeCA, pick_free_port
from app.sandbox.chain import check_chain
from tests.pki import NOW, cached_key
from tests.sandbox.craft import CLIENT_URI, make_csr


class CountingStore(MemorySecretStore):
    def __init__(self):
        super().__init__()
        self.asked = []

    def container_passphrase(self, name, create):
        self.asked.append((name, create))
        return super().container_passphrase(name, create)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A CA of its own for the tests that revoke or reopen: (folder, store, ca)."""
    store = CountingStore()
    folder = tmp_path_factory.mktemp("fresh") / "sandbox"
    return folder, store, PracticeCA.open(folder, store, now=NOW)


def ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


# --- creation and reopening --------------------------------------------------------------------

def test_creation_writes_owner_only_files_and_only_encrypted_keys(fresh):
    folder, store, ca = fresh
    assert ca.created
    names = {p.name for p in folder.iterdir()}
    assert {"state.json", "root.p12", "intermediate.p12", "tls-ca.p12", "root.pem", "intermediate.pem",
            "tls-ca.pem", "root.crl", "intermediate.crl"} <= names
    if os.name == "posix":
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir() if p.is_file())
    assert not any(b"PRIVATE KEY" in p.read_bytes() for p in folder.iterdir() if p.is_file())
    with pytest.raises(KeyContainerError):
        decrypt_key((folder / "root.p12").read_bytes(), b"not the passphrase")
    secret = store.get(f"sandbox-ca-{json.loads((folder / 'state.json').read_text())['id']}")
    key = decrypt_key((folder / "intermediate.p12").read_bytes(), secret.encode()).key
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert key.public_key() == ca.intermediate_cert.public_key()


def test_ca_certificates_form_a_chain_with_urls_on_the_persisted_http_port(fresh):
    _, _, ca = fresh
    assert PORT_RANGE[0] <= ca.http_port < PORT_RANGE[1]
    root, inter = ca.root_cert, ca.intermediate_cert
    assert inter.issuer == root.subject and inter.verify_directly_issued_by(root) is None
    assert ext(inter, x509.BasicConstraints).value.ca and ext(inter, x509.BasicConstraints).critical
    assert ext(inter, x509.KeyUsage).value.key_cert_sign
    cdp = ext(inter, x509.CRLDistributionPoints).value[0].full_name[0].value
    assert cdp == f"http://127.0.0.1:{ca.http_port}/crl/root.crl"
    tls = ext(ca.tls_ca_cert, x509.NameConstraints)
    assert tls.critical and x509.DNSName("localhost") in tls.value.permitted_subtrees


def test_reopening_reuses_everything_and_decrypts_nothing_until_needed(fresh):
    folder, store, ca = fresh
    store.asked.clear()
    again = PracticeCA.open(folder, store)
    assert not again.created and store.asked == []
    assert (again.root_cert, again.intermediate_cert, again.http_port) == (ca.root_cert, ca.intermediate_cert, ca.http_port)
    again.issue_from_csr(make_csr(cached_key("rsa2048", 0), [CLIENT_URI]), now=NOW)
    assert [create for _, create in store.asked] == [False]


def test_a_missing_passphrase_is_a_secret_store_error(fresh):
    folder, _, _ = fresh
    ca = PracticeCA.open(folder, MemorySecretStore())
    with pytest.raises(SecretStoreError) as info:
        ca.issue_from_csr(make_csr(cached_key("rsa2048", 0), [CLIENT_URI]), now=NOW)
    assert info.value.code == "passphrase_missing"


def test_damaged_state_or_certificate_is_reported(tmp_path):
    (tmp_path / "state.json").write_text("{")
    with pytest.raises(SandboxError) as info:
        PracticeCA.open(tmp_path, MemorySecretStore())
    assert info.value.code == "ca_damaged"
    (tmp_path / "state.json").write_text(json.dumps({"http_port": 20001, "id": "x", "revoked": {}, "crl_numbers": {}}))
    with pytest.raises(SandboxError) as info:
        PracticeCA.open(tmp_path, MemorySecretStore())
    assert info.value.code == "ca_damaged" and info.value.fields["path"].endswith("root.pem")


def test_pick_free_port_stays_out_of_the_ephemeral_ranges():
    assert all(PORT_RANGE[0] <= pick_free_port() < PORT_RANGE[1] <= 32768 for _ in range(5))


# --- issuing from a CSR ------------------------------------------------------------------------

ODD_URIS = ["https://Client.Example.org:8443/a%20b/?x=1", "urn:oid:1.2.840.113619.6.197", "https://c.example/"]


def test_issue_copies_san_uris_byte_for_byte_and_sets_the_udap_profile(practice_ca):
    key = cached_key("rsa2048", 0)
    csr = make_csr(key, ODD_URIS)
    cert = practice_ca.issue_from_csr(csr, now=NOW)
    san = ext(cert, x509.SubjectAlternativeName)
    assert san.value.public_bytes() == ext(csr, x509.SubjectAlternativeName).value.public_bytes()
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == ODD_URIS
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    aia = ext(cert, x509.AuthorityInformationAccess).value[0]
    assert aia.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    assert aia.access_location.value == f"{practice_ca.http_base}/aia/intermediate.cer"
    assert ext(cert, x509.CRLDistributionPoints).value[0].full_name[0].value == practice_ca.crl_url("intermediate")
    assert cert.not_valid_after_utc - NOW == timedelta(days=365)
    assert cert.subject == csr.subject and cert.public_key() == key.public_key()
    chain = check_chain(cert, [practice_ca.intermediate_cert], [practice_ca.root_cert], now=NOW,
                        fetch=lambda url, kind: practice_ca.fetch(url, kind, now=NOW))
    assert chain[-1] == practice_ca.root_cert


def test_issue_accepts_pem_and_der_and_drops_non_uri_names(practice_ca):
    key = cached_key("p256")
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("client.example.org"),
                                                       x509.UniformResourceIdentifier(CLIENT_URI)]), critical=False)
           .sign(key, hashes.SHA256()))
    for data in (csr.public_bytes(serialization.Encoding.PEM).decode(), csr.public_bytes(serialization.Encoding.DER)):
        cert = practice_ca.issue_from_csr(data, now=NOW)
        san = ext(cert, x509.SubjectAlternativeName)
        assert san.value.get_values_for_type(x509.DNSName) == [] and san.critical  # empty subject


def test_issue_refuses_bad_csrs(practice_ca):
    key = cached_key("rsa2048", 0)
    der = bytearray(make_csr(key, [CLIENT_URI]).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    odd = ec.generate_private_key(ec.SECP521R1())
    cases = [(bytes(der), "csr_bad_signature"), (b"garbage", "csr_unreadable"),
             (make_csr(key, []), "csr_no_uri_san"),
             (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example")]), critical=False)
              .sign(key, hashes.SHA256()), "csr_no_uri_san"),
             (make_csr(weak, [CLIENT_URI]), "csr_weak_key"), (make_csr(odd, [CLIENT_URI]), "csr_unsupported_key")]
    for csr, code in cases:
        with pytest.raises(SandboxError) as info:
            practice_ca.issue_from_csr(csr, now=NOW)
        assert info.value.code == code


# --- CRLs and revocation -----------------------------------------------------------------------

def test_revocation_is_persisted_and_resigns_the_crl_at_once(fresh):
    folder, store, ca = fresh
    cert = ca.issue_from_csr(make_csr(cached_key("rsa2048", 0), [CLIENT_URI]), now=NOW)
    before = ca.crl("intermediate", now=NOW)
    assert before.get_revoked_certificate_by_serial_number(cert.serial_number) is None
    ca.revoke(cert.serial_number, now=NOW)
    after = ca.crl("intermediate", now=NOW)
    assert after.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    number = lambda crl: crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(after) == number(before) + 1
    assert after.is_signature_valid(ca.intermediate_cert.public_key())
    again = PracticeCA.open(folder, store)
    assert again.is_revoked(cert.serial_number)
    served = x509.load_der_x509_crl(again.fetch(again.crl_url("intermediate"), "crl", now=NOW))
    assert served.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def test_crls_are_resigned_only_when_less_than_a_day_is_left(fresh):
    _, _, ca = fresh
    first = ca.crl("root", now=NOW)
    assert ca.crl("root", now=NOW + timedelta(days=5)) is first
    later = NOW + timedelta(days=6, hours=1)
    renewed = ca.crl("root", now=later)
    assert renewed is not first and renewed.next_update_utc == later + timedelta(days=7)
    assert renewed.is_signature_valid(ca.root_cert.public_key())


def test_http_resources_and_the_in_process_fetcher(practice_ca):
    ctype, body = practice_ca.http_resource("/aia/intermediate.cer")
    assert ctype == "application/pkix-cert" and x509.load_der_x509_certificate(body) == practice_ca.intermediate_cert
    ctype, body = practice_ca.http_resource("/crl/root.crl", now=NOW)
    assert ctype == "application/pkix-crl" and x509.load_der_x509_crl(body).issuer == practice_ca.root_cert.subject
    assert practice_ca.http_resource("/crl/unavailable.crl") is None
    for url, code in [("http://example.org/crl/root.crl", "connect_failed"),
                      (f"{practice_ca.http_base}/nope", "http_status")]:
        with pytest.raises(NetworkError) as info:
            practice_ca.fetch(url, "crl")
        assert info.value.code == code
    with pytest.raises(SandboxError):
        practice_ca.crl("tls-ca")


def test_tls_certificate_names_loopback_only(practice_ca):
    cert = practice_ca.issue_tls_certificate(cached_key("p256").public_key(), now=NOW)
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert cert.issuer == practice_ca.tls_ca_cert.subject


# --- gallery input -----------------------------------------------------------------------------

@pytest.mark.parametrize("uri", ["", "https://a.example/ b", "https://ä.example/", None])
def test_gallery_refuses_an_unusable_client_uri(practice_ca, tmp_path, uri):
    with pytest.raises(SandboxError) as info:
        practice_ca.write_gallery(tmp_path, uri, now=NOW)
    assert info.value.code == "gallery_client_uri_invalid"


def test_gallery_readme_and_a_trailing_slash_uri(practice_ca, tmp_path):
    items = practice_ca.write_gallery(tmp_path, CLIENT_URI + "/", now=NOW)
    different = next(i for i in items if i.name == "different-san").certificate
    assert ext(different, x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier) == [CLIENT_URI]
    readme = (tmp_path / "README.txt").read_text()
    assert readme.count("password:") == 7 and "unapproved_software_statement" in readme
    assert sorted(p.name for p in tmp_path.glob("*.p12")) == sorted(f"{i.name}.p12" for i in items)
