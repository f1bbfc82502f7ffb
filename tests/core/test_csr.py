"""CSR building, subject and client-URI validation, and the openssl equivalent."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID, NameOID

from app.core.csr import Subject, build_csr, csr_pem, openssl_commands, validate_client_uri
from app.core.errors import InputError
from tests.pki import cached_key

URI = "https://client.example.org/app"
HAS_OPENSSL = shutil.which("openssl") is not None


def subject(**kw) -> Subject:
    base = dict(common_name="Clinic App", organization="Example Clinic", org_unit="IT", locality="Springfield",
                state="IL", country="us", email="it@clinic.example")
    base.update(kw)
    return Subject(**base)


# --- Subject -------------------------------------------------------------------------------------

def test_subject_to_name_orders_fields_and_uppercases_country():
    name = subject().to_x509_name()
    assert [a.oid for a in name] == [NameOID.COUNTRY_NAME, NameOID.STATE_OR_PROVINCE_NAME, NameOID.LOCALITY_NAME,
                                     NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME,
                                     NameOID.COMMON_NAME, NameOID.EMAIL_ADDRESS]
    assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "US"


def test_subject_optional_fields_omitted_and_blank_means_absent():
    name = Subject("App", "Org", org_unit="  ", email="").to_x509_name()
    assert [a.oid for a in name] == [NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME]


def test_subject_blank_country_is_absent_and_name_order_matches_openssl_subj():
    for country in (None, "", "  "):
        assert Subject("App", "Org", country=country).country is None
    full = subject()
    # to_x509_name is written out field by field; openssl_subj walks _NAME_ORDER: same order
    shorts = {NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
              NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN",
              NameOID.EMAIL_ADDRESS: "emailAddress"}
    assert "".join(f"/{shorts[a.oid]}={a.value}" for a in full.to_x509_name()) == full.openssl_subj()


def test_subject_is_a_value():
    import dataclasses
    assert subject() == subject() and subject() != subject(org_unit=None)
    assert dataclasses.replace(subject(), org_unit=" Billing ").org_unit == "Billing"  # checked again
    with pytest.raises(InputError):
        dataclasses.replace(subject(), common_name="")
    assert "Clinic App" in repr(subject())


@pytest.mark.parametrize("country", ["USA", "U", "1A", "Ü1", "é"])
def test_country_must_be_two_letters(country):
    with pytest.raises(InputError) as e:
        subject(country=country)
    assert e.value.code == "country_invalid" and e.value.fields["value"] == country


@pytest.mark.parametrize("kw, code, field", [
    (dict(common_name=" "), "subject_field_required", "common_name"),
    (dict(organization=""), "subject_field_required", "organization"),
    (dict(common_name="x" * 65), "subject_field_too_long", "common_name"),
    (dict(locality="a\x00b"), "subject_field_control_character", "locality"),
])
def test_subject_field_errors(kw, code, field):
    with pytest.raises(InputError) as e:
        subject(**kw)
    assert e.value.code == code and e.value.fields["field"] == field


@pytest.mark.parametrize("email", ["no-at-sign", "a b@c.d", "x@nodot", "ü@x.org"])
def test_bad_email(email):
    with pytest.raises(InputError) as e:
        subject(email=email)
    assert e.value.code == "email_invalid"


# --- client URI -----------------------------------------------------------------------------------

@pytest.mark.parametrize("uri, warnings", [
    ("https://client.example.org/app", []),
    ("https://client.example.org:8443/a/b?x=1", []),
    ("http://client.example.org/app", ["http_scheme"]),
    ("https://client.example.org/app/", ["trailing_slash"]),
    ("https://client.example.org/", ["trailing_slash"]),
    ("https://Client.example.org/app", ["uppercase_scheme_or_host"]),
    ("https://[2001:db8::1]/app", []),
])
def test_client_uri_warnings(uri, warnings):
    assert validate_client_uri(uri) == warnings


@pytest.mark.parametrize("uri, code, position", [
    ("", "client_uri_empty", None),
    (None, "client_uri_empty", None),
    ("https://client.example.org/a pp", "client_uri_whitespace", 28),
    (" https://client.example.org/app", "client_uri_whitespace", 0),
    ("https://client.example.org/app\n", "client_uri_whitespace", 30),
    ("https://klinik.exämple.org/app", "client_uri_not_ascii", 17),
    ("https://client.example.org/app#frag", "client_uri_has_fragment", 30),
    ("https://client.example.org/<app>", "client_uri_invalid_character", 27),
    ("https://client.example.org/%zz", "client_uri_invalid_character", 27),
    ("client.example.org/app", "client_uri_not_absolute", 0),
    ("/app", "client_uri_not_absolute", 0),
    ("urn:oid:1.2.3", "client_uri_not_absolute", 4),
    ("https:///app", "client_uri_not_absolute", 8),
    ("https://client.example.org:99999/app", "client_uri_bad_port", 8),
])
def test_client_uri_errors(uri, code, position):
    with pytest.raises(InputError) as e:
        validate_client_uri(uri)
    assert e.value.code == code
    if position is not None:
        assert e.value.fields["position"] == position


# --- CSR ------------------------------------------------------------------------------------------

def _ext(csr, cls):
    return csr.extensions.get_extension_for_class(cls)


@pytest.mark.parametrize("kind, digest", [("rsa2048", hashes.SHA256), ("p256", hashes.SHA256),
                                          ("p384", hashes.SHA384)])
def test_build_csr_content(kind, digest):
    key = cached_key(kind)
    csr = build_csr(key, subject(), [URI, "https://client.example.org/other"])
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, digest)
    assert csr.public_key() == key.public_key()
    assert csr.subject == subject().to_x509_name()
    san = _ext(csr, x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [URI, "https://client.example.org/other"]
    ku = _ext(csr, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    bc = _ext(csr, x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    assert {e.oid for e in csr.extensions} == {ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.KEY_USAGE,
                                               ExtensionOID.BASIC_CONSTRAINTS}


def test_build_csr_refuses_bad_uris():
    key = cached_key("p256")
    for uris, code in [([], "client_uri_empty"), ([URI, URI], "client_uri_duplicate"),
                       ([URI, "https://x/#a"], "client_uri_has_fragment")]:
        for _ in range(2):  # a refusal is never remembered as a checked URI
            with pytest.raises(InputError) as e:
                build_csr(key, subject(), uris)
            assert e.value.code == code
    for bad in ([["https://x/"]], [None], [""], [b"https://x/"]):  # not a string: a typed error, no TypeError
        with pytest.raises(InputError):
            build_csr(key, subject(), bad)


def test_build_csr_refuses_unsupported_keys():
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    for key, code in [(ed25519.Ed25519PrivateKey.generate(), "unsupported_key_type"),
                      (ec.generate_private_key(ec.SECP521R1()), "unsupported_key_type")]:
        with pytest.raises(InputError) as e:
            build_csr(key, subject(), [URI])
        assert e.value.code == code


def test_csr_pem_roundtrip():
    csr = build_csr(cached_key("p256"), subject(), [URI])
    text = csr_pem(csr)
    assert text.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert x509.load_pem_x509_csr(text.encode()) == csr


@pytest.mark.skipif(not HAS_OPENSSL, reason="openssl not installed")
def test_openssl_verifies_csr_and_shows_san_uri(tmp_path):
    path = tmp_path / "client.csr"
    path.write_text(csr_pem(build_csr(cached_key("rsa2048"), subject(), [URI])))
    r = subprocess.run(["openssl", "req", "-in", str(path), "-verify", "-noout", "-text"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "verify OK" in out.replace("Certificate request self-signature verify OK", "verify OK")
    assert f"URI:{URI}" in out
    assert "Digital Signature" in out and "CA:FALSE" in out


# --- openssl equivalent -----------------------------------------------------------------------------

def test_openssl_commands_text():
    text = openssl_commands(subject(organization="A/B+C Clinic"), [URI, "https://client.example.org/b"],
                            "ec-p384")
    lines = [ln for ln in text.splitlines() if ln.startswith("openssl")]
    assert lines[0] == ("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -aes-256-cbc "
                        "-out client-key.pem")
    req = shlex.split(lines[1])
    assert req[req.index("-subj") + 1] == ("/C=US/ST=IL/L=Springfield/O=A\\/B\\+C Clinic/OU=IT/CN=Clinic App"
                                          "/emailAddress=it@clinic.example")
    assert "-sha384" in req
    assert f"subjectAltName=URI:{URI},URI:https://client.example.org/b" in req
    assert "keyUsage=critical,digitalSignature" in req and "basicConstraints=critical,CA:FALSE" in req


def test_openssl_commands_accepts_key_type_enum_like_values():
    class Fake:
        value = "rsa-4096"
    assert "rsa_keygen_bits:4096" in openssl_commands(subject(), [URI], Fake())
    with pytest.raises(InputError) as e:
        openssl_commands(subject(), [URI], "dsa-1024")
    assert e.value.code == "unknown_key_type"
    with pytest.raises(InputError) as e:
        openssl_commands(subject(), ["https://x.org/a,b"], "ec-p256")
    assert e.value.code == "client_uri_not_openssl_safe"


@pytest.mark.skipif(not HAS_OPENSSL, reason="openssl not installed")
def test_openssl_commands_run_and_match_our_csr(tmp_path):
    """Run the auditor's commands (passphrase supplied non-interactively) and compare with build_csr."""
    subj = subject(organization="Ärzte A/B+C")
    text = openssl_commands(subj, [URI], "ec-p256")
    for line in (ln for ln in text.splitlines() if ln.startswith("openssl")):
        argv = shlex.split(line)
        if argv[1] == "genpkey":
            argv += ["-pass", "pass:audit-test"]
        elif "-new" in argv:
            argv += ["-passin", "pass:audit-test"]
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=60)
        assert r.returncode == 0, (line, r.stderr)
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "client-key.pem").read_bytes()
    theirs = x509.load_pem_x509_csr((tmp_path / "client.csr").read_bytes())
    ours = build_csr(cached_key("p256"), subj, [URI])
    assert theirs.subject == ours.subject
    for cls in (x509.SubjectAlternativeName, x509.KeyUsage, x509.BasicConstraints):
        assert _ext(theirs, cls) == _ext(ours, cls)
