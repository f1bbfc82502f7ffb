"""Trust communities: validation on add, fingerprints, built-ins in memory, the user's file on disk."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from app.core.community import (CommunityCatalog, TrustCommunity, certificate_fingerprint,
                                load_builtin_communities)
from app.core.errors import CommunityError
from tests.pki import NOW, cached_key, make_ca, make_community

URI = "urn:oid:2.16.840.1.113883.3.7204.1"


@pytest.fixture(scope="module")
def pki():
    return make_community()


@pytest.fixture
def catalog(home):
    return CommunityCatalog(home)


def community(pki, name="Test Community", **kw) -> TrustCommunity:
    base = dict(uri=URI, anchors=[pki.root.pem.decode()], servers=["https://fhir.example.org/r4"])
    base.update(kw)
    return TrustCommunity(name=name, **base)


def fp_of(issued) -> str:
    return certificate_fingerprint(issued.cert)


def test_fingerprint_is_sha256_of_der_uppercase_with_colons(pki):
    import hashlib
    fp = certificate_fingerprint(pki.root.cert)
    assert fp.replace(":", "") == hashlib.sha256(pki.root.der).hexdigest().upper()
    assert len(fp) == 95 and fp.count(":") == 31


def test_add_get_list_persisted(pki, catalog, home):
    added = catalog.add(community(pki, tls_anchors=[pki.intermediate.pem.decode()], revocation="soft"))
    assert added.anchor_fingerprints() == [fp_of(pki.root)]
    again = CommunityCatalog(home).get("test community")      # names compare without case
    assert again == added and again.revocation == "soft" and not again.builtin
    assert [c.name for c in CommunityCatalog(home).list()] == ["Test Community"]
    doc = json.loads((home / "communities.json").read_text())
    assert doc["format"] == 1
    assert doc["communities"][0]["anchors"][0]["sha256"] == fp_of(pki.root)
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(home / "communities.json").st_mode) == 0o600


def test_add_normalizes_pem_bundles_der_and_duplicates(pki, catalog):
    bundle = (pki.root.pem + pki.intermediate.pem).decode()
    c = catalog.add(community(pki, anchors=[bundle, pki.root.pem.decode()], tls_anchors=[pki.root.der]))
    assert c.anchor_fingerprints() == [fp_of(pki.root), fp_of(pki.intermediate)]
    assert len(c.tls_anchors) == 1 and c.tls_anchors[0].startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("change, code", [
    (dict(name="  "), "name_empty"),
    (dict(name="bad\x00name"), "name_unsafe"),
    (dict(name="x" * 101), "name_unsafe"),
    (dict(uri=""), "uri_empty"),
    (dict(uri="community-1"), "uri_not_absolute"),
    (dict(uri="https:///nohost"), "uri_not_absolute"),
    (dict(uri="urn:a b"), "uri_not_absolute"),
    (dict(anchors=[]), "no_anchors"),
    (dict(anchors=["-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"]), "anchor_unreadable"),
    (dict(anchors=["hello"]), "anchor_unreadable"),
    (dict(tls_anchors=["junk"]), "tls_anchor_unreadable"),
    (dict(revocation="maybe"), "bad_revocation"),
    (dict(servers=["http://fhir.example.org"]), "server_url_invalid"),
    (dict(servers=["fhir.example.org"]), "server_url_invalid"),
])
def test_invalid_definitions_are_refused(pki, catalog, change, code):
    with pytest.raises(CommunityError) as info:
        catalog.add(community(pki, **change))
    assert info.value.code == code
    assert catalog.list() == []


def test_leaf_or_non_ca_anchor_is_refused(pki, catalog):
    not_ca = make_ca("Pretend CA", key=cached_key("p256"), is_ca=False)
    for bad in (pki.leaf, not_ca):
        with pytest.raises(CommunityError) as info:
            catalog.add(community(pki, anchors=[pki.root.pem.decode(), bad.pem.decode()]))
        assert info.value.code == "anchor_not_ca"
        assert info.value.fields["index"] == 1 and info.value.fields["fingerprint"] == fp_of(bad)


def test_loopback_http_server_is_allowed(pki, catalog):
    c = catalog.add(community(pki, servers=["http://127.0.0.1:8443/fhir", "http://127.0.0.1:8443/fhir"]))
    assert c.servers == ["http://127.0.0.1:8443/fhir"]


def test_exists_replace_and_remove(pki, catalog, home):
    catalog.add(community(pki))
    with pytest.raises(CommunityError) as info:
        catalog.add(community(pki, name="TEST community"))
    assert info.value.code == "exists"
    catalog.add(community(pki, revocation="soft"), replace=True)
    assert catalog.get("Test Community").revocation == "soft" and len(catalog.list()) == 1
    catalog.add(community(pki, name="Second"))
    catalog.remove("test community")
    assert [c.name for c in CommunityCatalog(home).list()] == ["Second"]
    with pytest.raises(CommunityError) as info:
        catalog.remove("Test Community")
    assert info.value.code == "not_found"
    with pytest.raises(CommunityError) as info:
        catalog.get("nope")
    assert info.value.code == "not_found"


def test_builtin_practice_community_lives_in_memory(pki, catalog, home):
    practice = community(pki, name="Practice community (this computer)", builtin=True,
                         servers=["http://127.0.0.1:9443"])
    catalog.add(practice)
    catalog.add(community(pki, name="Mine"))
    assert [c.name for c in catalog.list()] == ["Practice community (this computer)", "Mine"]
    assert "Practice" not in (home / "communities.json").read_text()
    # The sandbox regenerated its CA: the app replaces the built-in at run time.
    fresh = make_ca("Fresh Practice Root", key=cached_key("p256", 1))
    with pytest.raises(CommunityError):
        catalog.add(community(pki, name=practice.name, builtin=True, anchors=[fresh.pem.decode()]))
    catalog.add(community(pki, name=practice.name, builtin=True, anchors=[fresh.pem.decode()]), replace=True)
    assert catalog.get(practice.name).anchor_fingerprints() == [fp_of(fresh)]
    for action in (lambda: catalog.remove(practice.name),
                   lambda: catalog.add(community(pki, name=practice.name), replace=True)):
        with pytest.raises(CommunityError) as info:
            action()
        assert info.value.code == "builtin_readonly"
    assert [c.name for c in CommunityCatalog(home).list()] == ["Mine"]


def test_builtins_given_to_the_catalog_are_marked(pki, home):
    cat = CommunityCatalog(home, builtins=[community(pki, name="Shipped")])
    assert cat.get("Shipped").builtin is True


def test_bundled_file_with_fingerprints(pki, tmp_path):
    good = community(pki, name="Shipped").to_dict()
    path = tmp_path / "communities.json"
    path.write_text(json.dumps({"communities": [good]}))
    [c] = load_builtin_communities(path)
    assert c.builtin and c.anchor_fingerprints() == [fp_of(pki.root)]
    good["anchors"][0]["sha256"] = fp_of(pki.intermediate)
    path.write_text(json.dumps({"communities": [good]}))
    with pytest.raises(CommunityError) as info:
        load_builtin_communities(path)
    assert info.value.code == "anchor_fingerprint_mismatch" and info.value.fields["actual"] == fp_of(pki.root)


def test_damaged_and_newer_catalog(pki, catalog, home):
    catalog.add(community(pki))
    catalog.add(community(pki, name="Second"))
    (home / "communities.json").write_text("{broken")
    with pytest.raises(CommunityError) as info:
        catalog.list()
    assert info.value.code == "catalog_damaged"
    assert info.value.fields["backup"] == str(home / "communities.json.prev")
    catalog.add(community(pki, name="Practice", builtin=True))   # a damaged file must not block built-ins
    (home / "communities.json").write_text(json.dumps({"format": 2, "communities": []}))
    with pytest.raises(CommunityError) as info:
        catalog.list()
    assert info.value.code == "newer_format"


def test_unknown_keys_survive_a_round_trip(pki, catalog, home):
    d = community(pki).to_dict()
    d["scopes_expected"] = ["system/*.read"]
    catalog.add(TrustCommunity.from_dict(d))
    assert CommunityCatalog(home).get("Test Community").extra == {"scopes_expected": ["system/*.read"]}


def test_anchor_certificates_parse(pki):
    c = community(pki, intermediates=[pki.intermediate.pem.decode()])
    assert c.anchor_certificates()[0].public_bytes(serialization.Encoding.DER) == pki.root.der
    assert c.intermediate_certificates()[0].subject == pki.intermediate.cert.subject
    with pytest.raises(CommunityError):
        community(pki, anchors=["junk"]).anchor_fingerprints()



def test_anchor_without_basic_constraints_is_not_a_ca(pki, catalog):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    key = cached_key("p256")
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Old v1 root")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=9))
            .sign(key, hashes.SHA256()))
    with pytest.raises(CommunityError) as info:
        catalog.add(community(pki, anchors=[cert.public_bytes(serialization.Encoding.PEM).decode()]))
    assert info.value.code == "anchor_not_ca"


# --- the parse cache: the file is still read on every call, only its parse is reused ---------------

def _count_parses(monkeypatch, catalog) -> list[int]:
    parses = [0]
    original = CommunityCatalog._parse_user

    def counted(self, raw):
        parses[0] += self is catalog
        return original(self, raw)
    monkeypatch.setattr(CommunityCatalog, "_parse_user", counted)
    return parses


def test_unchanged_file_is_parsed_once_and_callers_get_copies(pki, catalog, monkeypatch):
    catalog.add(community(pki, extra={"label": {"en": "Test"}}))
    parses = _count_parses(monkeypatch, catalog)
    catalog.get("Test Community")
    first = catalog.get("Test Community")  # from the cache
    first.servers.append("https://evil.example.org")
    first.anchors.clear()
    first.extra["label"]["en"] = "changed"
    first.revocation = "soft"
    for _ in range(3):
        again = catalog.get("test community")
        assert again.servers == ["https://fhir.example.org/r4"] and again.revocation == "hard"
        assert again.extra == {"label": {"en": "Test"}} and again.anchor_fingerprints() == [fp_of(pki.root)]
    assert parses[0] == 1


def test_changes_by_another_process_are_seen_at_once(pki, catalog, home, monkeypatch):
    catalog.add(community(pki))
    assert catalog.get("Test Community").revocation == "hard"
    parses = _count_parses(monkeypatch, catalog)
    CommunityCatalog(home).add(community(pki, revocation="soft"), replace=True)  # e.g. the CLI
    assert catalog.get("Test Community").revocation == "soft"
    # An in-place edit of the same size that keeps inode and mtime (stat data cannot tell it apart).
    path = home / "communities.json"
    before = os.stat(path)
    raw = path.read_bytes()
    edited = raw.replace(b'"revocation": "soft"', b'"revocation": "hard"')
    assert len(edited) == len(raw) and edited != raw
    with open(path, "r+b") as fh:
        fh.write(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_ino == before.st_ino
    assert catalog.get("Test Community").revocation == "hard"
    path.unlink()
    with pytest.raises(CommunityError) as info:
        catalog.get("Test Community")
    assert info.value.code == "not_found" and catalog.list() == []
    assert parses[0] == 2


def test_writes_through_the_catalog_are_seen_by_the_next_read(pki, catalog):
    catalog.add(community(pki))
    assert catalog.names() == ["Test Community"]
    catalog.add(community(pki, name="Second"))
    assert catalog.names() == ["Test Community", "Second"]
    catalog.remove("Test Community")
    assert catalog.names() == ["Second"]
    catalog.save([])
    assert catalog.names() == []


def test_damage_after_a_good_read_raises_every_time(pki, catalog, home):
    catalog.add(community(pki))
    catalog.add(community(pki, name="Second"))
    assert len(catalog.list()) == 2
    path = home / "communities.json"
    good = path.read_bytes()
    for damage in (b"{broken", b"", json.dumps({"format": 1, "communities": {}}).encode()):
        path.write_bytes(damage)
        for _ in range(2):
            with pytest.raises(CommunityError) as info:
                catalog.get("Second")
            assert info.value.code == "catalog_damaged"
            assert info.value.fields["backup"] == str(home / "communities.json.prev")
    (home / "communities.json.prev").unlink()
    path.write_bytes(b"{broken")
    with pytest.raises(CommunityError) as info:
        catalog.list()
    assert info.value.fields["backup"] is None
    path.write_text(json.dumps({"format": 2, "communities": []}))
    with pytest.raises(CommunityError) as info:
        catalog.list()
    assert info.value.code == "newer_format"
    path.write_bytes(good)
    assert catalog.names() == ["Test Community", "Second"]


def test_readers_and_writers_in_threads(pki, catalog):
    import threading

    catalog.add(community(pki))
    errors: list[BaseException] = []
    stop = threading.Event()

    def read():
        try:
            while not stop.is_set():
                names = catalog.names()
                assert names[0] == "Test Community" and set(names) <= {"Test Community", "Second"}
                assert catalog.get("Test Community").anchor_fingerprints() == [fp_of(pki.root)]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        for i in range(10):
            catalog.add(community(pki, name="Second", revocation="soft" if i % 2 else "hard"), replace=True)
            catalog.remove("Second")
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not errors, errors[0]
    assert catalog.names() == ["Test Community"]


def test_copies_keep_every_field(pki):
    from dataclasses import fields

    from app.core.community import _copy
    c = community(pki, tls_anchors=["t"], intermediates=["i"], revocation="soft", builtin=True,
                  extra={"label": ["x", {"y": 1}]})
    defaults = TrustCommunity(name="", uri="")
    assert all(getattr(c, f.name) != getattr(defaults, f.name) for f in fields(TrustCommunity))
    copied = _copy(c)
    assert copied == c and copied.extra["label"][1] is not c.extra["label"][1]


def test_builtin_wins_over_a_user_entry_of_its_name_and_survives_a_damaged_file(pki, home):
    CommunityCatalog(home).add(community(pki, name="Shipped", servers=["https://user.example.org/fhir"]))
    cat = CommunityCatalog(home, builtins=[community(pki, name="Shipped")])
    assert cat.get("shipped").builtin and cat.get("Shipped").servers == ["https://fhir.example.org/r4"]
    (home / "communities.json").write_text("{ not json")
    assert cat.get("Shipped").builtin  # the user file is not read for a built-in
    with pytest.raises(CommunityError) as info:
        cat.get("Mine")
    assert info.value.code == "catalog_damaged"
