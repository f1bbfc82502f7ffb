"""Step functions: the orchestration the CLI and the wizard share (the protocol itself is tested elsewhere)."""

import threading
import time

import pytest

from app.core import onboarding
from app.core.errors import InputError, KeyContainerError
from app.core.secrets import MemorySecretStore
from app.core.session import Session
from tests.pki import make_community

URI = "https://apps.example.org/udap/b2b"


@pytest.fixture
def session(tmp_path):
    s = Session(tmp_path / "home", secrets=MemorySecretStore())
    yield s
    s.close()


@pytest.fixture
def profile(session):
    p, warnings = onboarding.create_profile(session, "p", org_name="Org", client_name="App", client_uri=URI,
                                            contact="it@example.org")
    assert warnings == []
    return p


def test_contact_and_defaults(session):
    p, warnings = onboarding.create_profile(session, "q", org_name="Org", client_name="App",
                                            client_uri="http://apps.example.org/x/", contact="mailto:a@b.org")
    assert p.contacts == ["mailto:a@b.org"] and p.org_id == "http://apps.example.org"
    assert set(warnings) >= {"http_scheme", "trailing_slash"} and p.community == "practice"
    for bad in ("", "a@b", "a b@c.org", "@c.org"):
        with pytest.raises(InputError):
            onboarding.normalize_contact(bad)


def test_key_is_never_overwritten_silently_and_cached(session, profile):
    onboarding.generate_key(session, profile, "ec-p256")
    with pytest.raises(KeyContainerError) as e:
        onboarding.generate_key(session, profile, "ec-p256")
    assert e.value.code == "exists"
    key = onboarding.load_key(session, profile)
    assert onboarding.load_key(session, profile) is key  # decrypted once per session
    fresh = Session(session.home, secrets=session.secrets)
    assert onboarding.load_key(fresh, profile).private_numbers() == key.private_numbers()


def test_import_refuses_foreign_certificate_and_keeps_old(session, profile):
    onboarding.generate_key(session, profile, "ec-p256")
    before = session.profiles.load("p").to_dict()
    c = make_community()
    with pytest.raises(Exception) as e:
        onboarding.import_certificate(session, profile, [c.leaf.pem, c.intermediate.pem], community="")
    assert getattr(e.value, "code", "") == "no_certificate_for_key"
    assert session.profiles.load("p").to_dict() == before


def test_register_many_is_bounded_ordered_and_bugs_become_rows(session, profile, monkeypatch):
    from app.core.community import TrustCommunity

    c = make_community()
    session.communities.add(TrustCommunity(name="lab", uri="udap://lab/", anchors=[c.root.pem.decode()]))
    monkeypatch.setattr(onboarding, "profile_chain", lambda p: [c.leaf.cert])
    live, peak, lock = [0], [0], threading.Lock()

    def fake_one(sess, prof, server, comm, cancel, request, fp):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.05)
        with lock:
            live[0] -= 1
        if server.endswith("7"):
            raise RuntimeError("boom")
        return onboarding.ServerOutcome(server=server, outcome="registered", client_id=server[-1])

    monkeypatch.setattr(onboarding, "_register_one", fake_one)
    servers = [f"https://s{i}.example/fhir{i}" for i in range(10)]
    rows = onboarding.register(session, profile, servers, "lab", max_workers=3)
    assert [r.server for r in rows] == servers
    assert peak[0] <= 3 and peak[0] >= 2
    assert rows[7].outcome == "error" and rows[7].explanation["code"] == "internal_error"
    assert "boom" not in str(rows[7].to_dict())
    assert all(r.ok for i, r in enumerate(rows) if i != 7)


def test_add_community_from_files_checks_the_published_fingerprint(session):
    from cryptography.hazmat.primitives.serialization import Encoding

    from app.core.errors import CommunityError

    com = make_community()
    der = com.root.cert.public_bytes(Encoding.DER)
    pem = com.root.cert.public_bytes(Encoding.PEM)
    preview = onboarding.read_anchors(b"pasted from an e-mail:\n" + pem + b"\nthanks")
    assert len(preview) == 1 and preview[0].is_ca and "CN=Test Root CA" in preview[0].subject
    fp = preview[0].fingerprint
    wrong = fp[:-1] + ("0" if fp[-1] != "0" else "1")
    with pytest.raises(CommunityError) as e:
        onboarding.add_community(session, "Net", "urn:example:net", [der], expected_fingerprint=wrong)
    assert e.value.code == "anchor_fingerprint_mismatch" and e.value.fields["actual"] == fp
    with pytest.raises(CommunityError) as e:
        onboarding.add_community(session, "Net", "urn:example:net", [der], expected_fingerprint="3A:7F")
    assert e.value.code == "fingerprint_malformed"
    assert "Net" not in session.communities.names()  # nothing saved by a refused add
    with pytest.raises(CommunityError) as e:
        onboarding.add_community(session, "Net", "urn:example:net", [b"not a certificate"])
    assert e.value.code == "anchor_unreadable"
    added = onboarding.add_community(session, "Net", "urn:example:net", [der], servers=[" https://fhir.example.net/r4 "],
                                     expected_fingerprint=fp.lower().replace(":", " "))
    assert added.anchor_fingerprints() == [fp] and session.communities.get("Net").servers == ["https://fhir.example.net/r4"]
    with pytest.raises(CommunityError) as e:  # a leaf is not an anchor
        onboarding.add_community(session, "Other", "urn:example:o", [com.leaf.cert.public_bytes(Encoding.PEM)])
    assert e.value.code == "anchor_not_ca"


def test_a_certificate_revoked_minutes_ago_shows_on_the_next_check(session, profile):
    """The session's CRL cache must not hide a fresh revocation from a check the user asked for."""
    onboarding.generate_key(session, profile, "ec-p256")
    first = onboarding.issue_practice_certificate(session, profile)
    assert first.ok and first.trust["ok"]
    leaf = onboarding.profile_chain(profile)[0]
    session.practice.ca().revoke(leaf.serial_number, now=session.now())
    again = onboarding.check_certificate(session, profile)
    assert not again.ok and again.trust["rows"][0]["reason"] == "revoked"
    session.practice.stop()


def test_a_refusal_while_our_clock_runs_ahead_names_the_clock(tmp_path):
    from datetime import datetime, timedelta, timezone

    from app.ui.feedback import describe
    from app.core.errors import RegistrationError

    store = MemorySecretStore()
    server_side = Session(tmp_path / "home", secrets=store)
    info = server_side.practice.start()
    p, _ = onboarding.create_profile(server_side, "p", org_name="Org", client_name="App", client_uri=URI,
                                     contact="it@example.org")
    onboarding.generate_key(server_side, p, "ec-p256")
    assert onboarding.issue_practice_certificate(server_side, p).ok
    ahead = Session(tmp_path / "home", secrets=store,
                    clock=lambda: datetime.now(timezone.utc) + timedelta(seconds=20))
    try:
        [row] = onboarding.register(ahead, ahead.profiles.load("p"), [info["base_url"]])
        assert row.outcome == "rejected" and "clock_ahead_of_server" in row.explanation["fields"]["hints"]
        said = describe(RegistrationError(row.explanation["code"], **row.explanation["fields"]))
        assert "clock is 2" in said.next_step and " s ahead of the server" in said.next_step  # 20 s plus the run time
    finally:
        ahead.close()
        server_side.practice.stop()
        server_side.close()


def test_a_mistyped_server_is_not_remembered(session, profile):
    onboarding.generate_key(session, profile, "ec-p256")
    assert onboarding.issue_practice_certificate(session, profile).ok
    [row] = onboarding.register(session, profile, ["fhir.example.org/r4"], "practice")
    session.practice.stop()
    assert row.outcome == "error" and row.error == "bad_base_url"
    assert "fhir.example.org/r4" not in session.profiles.load(profile.name).servers
