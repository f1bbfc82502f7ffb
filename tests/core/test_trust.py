"""The trust matrix: one chain per way a path can fail, each with the row that must explain it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

from app.core.errors import NetworkError, TrustError
from app.core.trust import CrlCache, TrustReport, validate_chain
from tests.pki import CA, NOW, Community, cached_key, make_ca, make_community, make_leaf, name

BASE = "http://pki.test"
OTHER_KEY = cached_key("rsa2048", 9)  # a key no CA of make_community uses


@pytest.fixture
def community() -> Community:
    return make_community(BASE)


def run(c: Community, *, intermediates=None, anchors=None, fetch=None, now=NOW, **kw) -> TrustReport:
    fetch = fetch if fetch is not None else c.fetcher(now)
    return validate_chain(c.leaf.cert, [c.intermediate.cert] if intermediates is None else intermediates,
                          anchors or [c.root.cert], now=now, fetch=fetch, **kw)


def reasons(report: TrustReport) -> list[tuple[str, str]]:
    return [(r.status, r.reason) for r in report.rows]


def der(crl) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def chain_of(root: CA, inter: CA, leaf) -> Community:
    return Community(root=root, intermediate=inter, leaf=leaf, base=BASE)


def ca_pair(**inter_kwargs) -> tuple[CA, CA]:
    root = make_ca("Test Root CA", crl_url=f"{BASE}/root.crl", aia_url=f"{BASE}/root.cer")
    inter = make_ca("Test Intermediate CA", root, crl_url=f"{BASE}/intermediate.crl",
                    aia_url=f"{BASE}/intermediate.cer", **inter_kwargs)
    return root, inter


# --- the matrix ----------------------------------------------------------------------------------

def test_valid_chain_checks_every_crl_below_the_anchor(community):
    fetch = community.fetcher()
    report = run(community, fetch=fetch)
    assert report.ok
    assert reasons(report) == [("ok", "ok"), ("ok", "ok"), ("ok", "anchor")]
    assert report.chain == [community.leaf.cert, community.intermediate.cert, community.root.cert]
    assert fetch.calls == [f"{BASE}/intermediate.crl", f"{BASE}/root.crl"]
    assert report.rows[0].detail["crl_url"] == f"{BASE}/intermediate.crl"
    assert report.rows[2].detail["source"] == "anchor"
    json.dumps(report.to_dict())


def test_expired_leaf():
    c = make_community(BASE, not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1))
    report = run(c)
    assert not report.ok
    assert reasons(report) == [("error", "expired"), ("ok", "ok"), ("ok", "anchor")]


def test_expired_intermediate():
    root, inter = ca_pair(not_after=NOW - dt.timedelta(days=2))
    report = run(chain_of(root, inter, make_leaf(inter)))
    assert not report.ok
    assert [r.reason for r in report.rows] == ["ok", "expired", "anchor"]


def test_not_yet_valid_leaf():
    c = make_community(BASE, not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=300))
    report = run(c)
    assert not report.ok
    assert report.rows[0].reason == "not_yet_valid"


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_revoked_leaf_is_an_error_in_both_modes(community, mode):
    community.intermediate.revoke(community.leaf.cert)
    report = run(community, revocation=mode)
    assert not report.ok
    assert reasons(report)[0] == ("error", "revoked")
    assert report.rows[0].detail["revocation_date"].startswith("2026-05-31")
    assert report.rows[1].reason == "ok"


def test_revoked_intermediate(community):
    community.root.revoke(community.intermediate.cert)
    report = run(community)
    assert not report.ok
    assert reasons(report) == [("ok", "ok"), ("error", "revoked"), ("ok", "anchor")]


@pytest.mark.parametrize("mode, ok, status", [("hard", False, "error"), ("soft", True, "warning")])
def test_crl_unreachable(community, mode, ok, status):
    url = f"{BASE}/intermediate.crl"
    fetch = community.fetcher(overrides={url: NetworkError("connect_failed", url=url)})
    report = run(community, fetch=fetch, revocation=mode)
    assert report.ok is ok
    assert reasons(report)[0] == (status, "crl_unavailable")
    assert report.rows[0].detail["crl_attempts"] == [{"url": url, "reason": "crl_unavailable",
                                                      "error": "connect_failed"}]


def test_untrusted_root_given_in_x5c_is_never_an_anchor(community):
    stranger = make_ca("Test Root CA", key=OTHER_KEY)  # same name, other key: a look-alike anchor
    report = run(community, intermediates=[community.intermediate.cert, community.root.cert],
                 anchors=[stranger.cert])
    assert not report.ok
    assert [r.reason for r in report.rows] == ["ok", "ok", "untrusted_root"]
    assert report.rows[2].detail["source"] == "given"


def test_untrusted_root_reached_by_aia(community):
    fetch = community.fetcher()
    report = run(community, anchors=[make_ca("Other Root", key=OTHER_KEY).cert], fetch=fetch)
    assert not report.ok
    assert report.rows[-1].reason == "untrusted_root"
    assert report.rows[-1].detail["source"] == "aia"
    assert f"{BASE}/root.cer" in fetch.calls


def test_intermediate_found_only_through_aia(community):
    fetch = community.fetcher()
    report = run(community, intermediates=[], fetch=fetch)
    assert report.ok, reasons(report)
    assert report.rows[1].detail["source"] == "aia"
    assert fetch.calls == [f"{BASE}/intermediate.cer", f"{BASE}/intermediate.crl", f"{BASE}/root.crl"]


@pytest.mark.parametrize("fmt", ["der", "pem", "pkcs7_der", "pkcs7_pem"])
def test_aia_answer_formats(community, fmt):
    inter = community.intermediate.cert
    body = {"der": community.intermediate.der, "pem": community.intermediate.pem,
            "pkcs7_der": pkcs7.serialize_certificates([inter], serialization.Encoding.DER),
            "pkcs7_pem": pkcs7.serialize_certificates([inter], serialization.Encoding.PEM)}[fmt]
    fetch = community.fetcher(overrides={f"{BASE}/intermediate.cer": body})
    assert run(community, intermediates=[], fetch=fetch).ok


def test_missing_intermediate_without_aia():
    root = make_ca("Test Root CA", crl_url=f"{BASE}/root.crl")
    inter = make_ca("Test Intermediate CA", root, crl_url=f"{BASE}/intermediate.crl")  # no aia_url
    c = chain_of(root, inter, make_leaf(inter))
    fetch = c.fetcher()
    report = run(c, intermediates=[], fetch=fetch)
    assert not report.ok
    assert reasons(report) == [("error", "missing_intermediate")]
    assert report.rows[0].detail["issuer"] == inter.cert.subject.rfc4514_string()
    assert not any(u.endswith(".cer") for u in fetch.calls)


def test_aia_pointing_at_the_wrong_certificate_is_fetched_once_and_not_looped(community):
    url = f"{BASE}/intermediate.cer"
    fetch = community.fetcher(overrides={url: community.leaf.der})
    report = run(community, intermediates=[], fetch=fetch)
    assert reasons(report) == [("error", "missing_intermediate")]
    assert report.rows[0].detail["aia_errors"] == [{"url": url, "error": "not_the_issuer"}]
    assert fetch.calls == [url]


def test_stale_crl(community):
    url = f"{BASE}/intermediate.crl"
    old = der(community.intermediate.crl(NOW - dt.timedelta(days=10)))  # nextUpdate 3 days ago
    report = run(community, fetch=community.fetcher(overrides={url: old}))
    assert not report.ok
    assert reasons(report)[0] == ("error", "crl_stale")
    assert report.rows[0].detail["crl_attempts"][0]["crl_next_update"].startswith("2026-05-29")


def test_crl_signed_by_a_wrong_key(community):
    url = f"{BASE}/intermediate.crl"
    forged = der(community.intermediate.crl(signer=OTHER_KEY))
    report = run(community, fetch=community.fetcher(overrides={url: forged}))
    assert not report.ok
    assert reasons(report)[0] == ("error", "crl_bad_signature")


def test_crl_from_another_issuer(community):
    url = f"{BASE}/intermediate.crl"
    report = run(community, fetch=community.fetcher(overrides={url: der(community.root.crl())}))
    assert reasons(report)[0] == ("error", "crl_wrong_issuer")


def test_crl_cache_is_used_until_next_update(community):
    cache = CrlCache()
    first = community.fetcher()
    assert run(community, fetch=first, crl_cache=cache).ok
    assert len(first.calls) == 2
    later = community.fetcher()
    report = run(community, fetch=later, now=NOW + dt.timedelta(days=6), crl_cache=cache)
    assert report.ok and later.calls == []
    assert report.rows[0].detail["crl_from_cache"] is True
    after = NOW + dt.timedelta(days=8)  # past nextUpdate (NOW + 7 days)
    refetch = community.fetcher(after)
    assert run(community, fetch=refetch, now=after, crl_cache=cache).ok
    assert refetch.calls == [f"{BASE}/intermediate.crl", f"{BASE}/root.crl"]


def test_crl_cache_on_disk_survives_a_new_cache(community, tmp_path):
    pytest.importorskip("app.core.storage")
    first = community.fetcher()
    assert run(community, fetch=first, crl_cache=CrlCache(tmp_path / "crls")).ok
    again = community.fetcher()
    assert run(community, fetch=again, crl_cache=CrlCache(tmp_path / "crls")).ok
    assert again.calls == []
    assert all(p.stat().st_mode & 0o077 == 0 for p in (tmp_path / "crls").iterdir())


def test_cached_crl_signature_is_checked_once_per_issuer_key(community, monkeypatch):
    from app.core import trust
    checked: list[bool] = []
    original = trust._crl_problem

    def spy(crl, issuer, now, signature_checked=False):
        checked.append(signature_checked)
        return original(crl, issuer, now, signature_checked)
    monkeypatch.setattr(trust, "_crl_problem", spy)
    cache = CrlCache()
    assert run(community, crl_cache=cache).ok
    assert checked == [False, False]  # downloaded: both signatures checked
    checked.clear()
    report = run(community, fetch=community.fetcher(), now=NOW + dt.timedelta(days=1), crl_cache=cache)
    assert report.ok and report.rows[0].detail["crl_from_cache"] is True
    assert checked == [True, True]  # the same CRLs with the same issuers: name and dates only
    # An impostor CA (same name and CRL URL, another key): the cached CRL is checked with its key.
    impostor = make_ca("Test Intermediate CA", community.root, key=OTHER_KEY, crl_url=f"{BASE}/intermediate.crl")
    leaf = make_leaf(impostor)
    checked.clear()
    report = validate_chain(leaf.cert, [impostor.cert], [community.root.cert], now=NOW, fetch=community.fetcher(),
                            crl_cache=cache)
    assert not report.ok and reasons(report)[0] == ("error", "crl_bad_signature")
    assert checked[0] is False


def test_crl_read_back_from_disk_is_verified_again(community, tmp_path):
    assert run(community, crl_cache=CrlCache(tmp_path / "crls")).ok
    forged = der(community.intermediate.crl(signer=OTHER_KEY))
    [planted] = [p for p in (tmp_path / "crls").iterdir()
                 if x509.load_der_x509_crl(p.read_bytes()).issuer == community.intermediate.cert.subject]
    planted.write_bytes(forged)
    again = community.fetcher()
    assert run(community, fetch=again, crl_cache=CrlCache(tmp_path / "crls")).ok
    assert again.calls == [f"{BASE}/intermediate.crl"]  # the forged copy was refused and fetched anew


def test_leaf_with_bad_signature_under_the_right_issuer_name(community):
    impostor = make_ca("Test Intermediate CA", community.root, key=OTHER_KEY)
    leaf = make_leaf(impostor)
    report = validate_chain(leaf.cert, [community.intermediate.cert], [community.root.cert], now=NOW,
                            fetch=community.fetcher())
    assert not report.ok
    assert reasons(report) == [("error", "bad_signature"), ("ok", "ok"), ("ok", "anchor")]


def test_ec_p256_chain():
    root = make_ca("EC Root", key=cached_key("p256", 1), crl_url=f"{BASE}/root.crl")
    inter = make_ca("EC Intermediate", root, key=cached_key("p256", 2), crl_url=f"{BASE}/intermediate.crl")
    c = chain_of(root, inter, make_leaf(inter, key=cached_key("p256", 3)))
    report = run(c)
    assert report.ok, reasons(report)
    assert reasons(report) == [("ok", "ok"), ("ok", "ok"), ("ok", "anchor")]


def test_udap_leaf_without_eku_and_with_only_a_uri_san(community):
    leaf = community.leaf.cert
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert all(isinstance(n, x509.UniformResourceIdentifier) for n in sans)
    assert run(community).ok


def test_leaf_whose_eku_lacks_client_auth_is_accepted(community):
    # webpki's client verifier would refuse this; UDAP defines no EKU, so the policy permits any.
    leaf = make_leaf(community.intermediate, eku=[ExtendedKeyUsageOID.CODE_SIGNING])
    report = validate_chain(leaf.cert, [community.intermediate.cert], [community.root.cert], now=NOW,
                            fetch=community.fetcher())
    assert report.ok, reasons(report)


# --- beyond the matrix ---------------------------------------------------------------------------

def test_issuer_that_is_not_a_ca():
    root, inter = ca_pair(is_ca=False)
    report = run(chain_of(root, inter, make_leaf(inter)))
    assert not report.ok
    assert report.rows[1].reason == "not_a_ca"


def test_certificate_without_crl_distribution_point_is_a_warning():
    root, _ = ca_pair()
    inter = make_ca("Test Intermediate CA", root)  # its children get no CDP
    report = run(chain_of(root, inter, make_leaf(inter)))
    assert report.ok
    assert reasons(report)[0] == ("warning", "no_crl_distribution_point")


def _raw_ca(cn, issuer: CA, key, extensions) -> CA:
    b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer.cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=100)))
    for ext, critical in extensions:
        b = b.add_extension(ext, critical=critical)
    return CA(cert=b.sign(issuer.key, hashes.SHA256()), key=key)


def test_policy_refusal_names_the_certificate(community):
    # An intermediate without keyUsage: names, signatures and dates are fine, the builder refuses it.
    bare = _raw_ca("Bare Intermediate", community.root, OTHER_KEY,
                   [(x509.BasicConstraints(ca=True, path_length=None), True)])
    leaf = make_leaf(bare)
    report = validate_chain(leaf.cert, [bare.cert], [community.root.cert], now=NOW, fetch=community.fetcher())
    assert not report.ok
    assert [r.reason for r in report.rows] == ["no_crl_distribution_point", "policy_rejected", "anchor"]
    assert report.rows[1].detail["message"]


def test_intermediate_with_non_critical_basic_constraints_is_accepted(community):
    ku = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                       encipher_only=False, decipher_only=False)
    inter = _raw_ca("Lax Intermediate", community.root, OTHER_KEY, [
        (x509.BasicConstraints(ca=True, path_length=None), False), (ku, True),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(community.root.key.public_key()), False)])
    leaf = make_leaf(inter)
    report = validate_chain(leaf.cert, [inter.cert], [community.root.cert], now=NOW, fetch=community.fetcher())
    assert report.ok, reasons(report)


def test_without_fetcher_hard_mode_fails_on_revocation(community):
    report = validate_chain(community.leaf.cert, [community.intermediate.cert], [community.root.cert],
                            now=NOW, fetch=None)
    assert not report.ok
    assert report.rows[0].detail["crl_attempts"][0]["error"] == "no_fetcher"


def test_bad_arguments_raise_typed_errors(community):
    with pytest.raises(TrustError) as no_anchor:
        validate_chain(community.leaf.cert, [], [], now=NOW)
    assert no_anchor.value.code == "no_anchors"
    with pytest.raises(TrustError) as mode:
        validate_chain(community.leaf.cert, [], [community.root.cert], now=NOW, revocation="maybe")
    assert mode.value.code == "unknown_revocation_mode"


def test_row_to_dict_is_asdict_as_a_deep_copy(community):
    from dataclasses import asdict
    report = run(community, fetch=community.fetcher(overrides={f"{BASE}/intermediate.crl": NetworkError("timeout")}),
                 revocation="soft")
    row = report.rows[0]
    assert row.detail["crl_attempts"] and isinstance(row.detail["crl_attempts"][0], dict)
    out = row.to_dict()
    assert out == asdict(row) and list(out) == list(asdict(row))
    out["detail"]["crl_attempts"][0]["url"] = "changed"
    assert row.detail["crl_attempts"][0]["url"] != "changed"
