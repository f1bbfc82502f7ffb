"""Profiles on disk: names, private files, damaged files and their backup, registrations, crashes."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from app.core.errors import InputError, ProfileError, StorageError
from app.core.profile import (PROFILE_FORMAT, Profile, ProfileStore, registration_key, validate_profile_name)
from tests.core.test_storage import RO_SUPPORTED, run_checked
from tests.pki import NOW

ROOT = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits and signals")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def store(home):
    return ProfileStore(home)


def sample(name: str = "Acme Clinic", **kw) -> Profile:
    base = dict(org_name="Acme Clinic", client_uri="https://acme.example/app", contacts=["mailto:it@acme.example"])
    base.update(kw)
    return Profile(name=name, **base)


# -- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "Acme Clinic", "v1.2_test-3", "x" * 64, "Clinique Évry", "9"])
def test_good_profile_names(name):
    assert validate_profile_name(name) == name


@pytest.mark.parametrize("name, reason", [
    ("", "empty"), ("x" * 65, "too_long"), ("a/b", "bad_character"), ("a\\b", "bad_character"),
    ("a:b", "bad_character"), ("tab\there", "bad_character"), ("nul\x00", "bad_character"),
    ("..", "starts_or_ends_badly"), (".hidden", "starts_or_ends_badly"), ("trail ", "starts_or_ends_badly"),
    (" lead", "starts_or_ends_badly"), ("dot.", "starts_or_ends_badly"), ("CON", "reserved"),
    ("nul.txt", "reserved"), ("Com1", "reserved"),
])
def test_bad_profile_names(name, reason):
    with pytest.raises(InputError) as info:
        validate_profile_name(name)
    assert info.value.code == "bad_profile_name" and info.value.fields["reason"] == reason


def test_store_refuses_bad_names_before_touching_disk(store):
    with pytest.raises(InputError):
        store.create(sample("../escape"))
    with pytest.raises(InputError):
        store.load("../../etc")
    assert not (store.home.parent / "escape").exists() and store.list() == []


# -- create / load / list -------------------------------------------------------------------------

def test_round_trip_and_timestamps(store):
    p = sample(scopes=["system/*.read"], extra={"future_field": {"x": 1}})
    store.create(p, now=NOW)
    got = store.load("Acme Clinic")
    assert got == p
    assert got.created == got.updated == "2026-06-01T12:00:00+00:00"
    store.save(got, now=NOW + timedelta(hours=1))  # nothing changed: nothing written, .prev not rotated
    assert store.load("Acme Clinic").updated == "2026-06-01T12:00:00+00:00"
    assert not (store.path("Acme Clinic") / "profile.json.prev").exists()
    got.org_name = "Acme Clinic LLC"
    store.save(got, now=NOW + timedelta(hours=1))
    again = store.load("Acme Clinic")
    assert again.created == "2026-06-01T12:00:00+00:00" and again.updated == "2026-06-01T13:00:00+00:00"
    doc = json.loads((store.path("Acme Clinic") / "profile.json").read_text())
    assert doc["format"] == PROFILE_FORMAT and doc["future_field"] == {"x": 1}


@posix_only
def test_files_are_private_even_with_umask_zero(home):
    old = os.umask(0)
    try:
        store = ProfileStore(home)
        store.create(sample(), now=NOW)
        changed = store.load("Acme Clinic")
        changed.org_name = "Acme Clinic LLC"
        store.save(changed, now=NOW)
    finally:
        os.umask(old)
    folder = store.path("Acme Clinic")
    assert mode(home) == mode(home / "profiles") == mode(folder) == 0o700
    assert mode(folder / "profile.json") == mode(folder / "profile.json.prev") == 0o600


def test_create_twice_and_case_insensitive_clash(store):
    store.create(sample("Acme"))
    for clash in ("Acme", "ACME"):
        with pytest.raises(ProfileError) as info:
            store.create(sample(clash))
        assert info.value.code == "exists"


def test_list_and_delete(store):
    for n in ("beta", "Alpha", "gamma"):
        store.create(sample(n))
    (store.root / "not a profile").mkdir()           # no profile.json: not listed
    (store.root / ".junk").mkdir()                    # not a valid name: not listed
    assert store.list() == ["Alpha", "beta", "gamma"]
    store.delete("beta")
    assert store.list() == ["Alpha", "gamma"]
    with pytest.raises(ProfileError) as info:
        store.load("beta")
    assert info.value.code == "not_found"
    with pytest.raises(ProfileError):
        store.delete("beta")


def test_key_path_stays_inside_the_profile(store):
    p = sample(key_file="key.p12")
    assert store.key_path(p) == store.path(p.name) / "key.p12"
    for bad in ("../key.p12", "/etc/passwd", "sub/key.p12"):
        with pytest.raises(ProfileError) as info:
            store.key_path(sample(key_file=bad))
        assert info.value.code == "bad_key_file"


def test_private_key_never_saved(store):
    p = sample(csr_pem="-----BEGIN PRIVATE KEY-----\nMII...\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ProfileError) as info:
        store.create(p)
    assert info.value.code == "secret_in_profile"
    assert store.list() == []


# -- damaged files, .prev, restore ----------------------------------------------------------------

def _versions(store, n=3):
    p = sample()
    store.create(p, now=NOW)
    for i in range(1, n):
        p.org_name = f"Acme v{i}"
        store.save(p, now=NOW)
    return store.path(p.name)


@pytest.mark.parametrize("garbage, reason", [
    (b'{"format": 1, "name": "Acme', "not_json"), (b"", "file_empty"), (b"[1, 2]", "not_object"),
    (b'{"name": "Acme"}', "no_format"), (b'{"format": 1, "name": "Acme", "contacts": "x"}', "bad_field"),
    (b"\xff\xfe", "not_json"),
])
def test_damaged_profile_reports_path_and_backup(store, garbage, reason):
    folder = _versions(store)
    (folder / "profile.json").write_bytes(garbage)
    with pytest.raises(ProfileError) as info:
        store.load("Acme Clinic")
    e = info.value
    assert e.code == "damaged" and e.fields["reason"] == reason
    assert e.fields["path"] == str(folder / "profile.json")
    assert e.fields["backup"] == str(folder / "profile.json.prev")
    restored = store.restore_previous("Acme Clinic")
    assert restored.org_name == "Acme v1"                      # the version before the last save
    if garbage:
        assert (folder / "profile.json.damaged").read_bytes() == garbage  # kept for support
    assert store.load("Acme Clinic").org_name == "Acme v1"


def test_saving_over_a_damaged_file_keeps_the_good_backup(store):
    folder = _versions(store)
    (folder / "profile.json").write_bytes(b"garbage")
    store.save(sample(org_name="fresh"), now=NOW)
    assert store.load("Acme Clinic").org_name == "fresh"
    assert json.loads((folder / "profile.json.prev").read_text())["org_name"] == "Acme v1"


def test_missing_file_with_backup_is_damaged_not_gone(store):
    folder = _versions(store)
    (folder / "profile.json").unlink()
    with pytest.raises(ProfileError) as info:
        store.load("Acme Clinic")
    assert info.value.code == "damaged" and info.value.fields["reason"] == "file_not_found"
    assert "Acme Clinic" in store.list()
    assert store.restore_previous("Acme Clinic").org_name == "Acme v1"


def test_damaged_without_backup(store):
    store.create(sample())
    folder = store.path("Acme Clinic")
    (folder / "profile.json").write_bytes(b"{")
    with pytest.raises(ProfileError) as info:
        store.load("Acme Clinic")
    assert info.value.fields["backup"] is None
    with pytest.raises(ProfileError) as info:
        store.restore_previous("Acme Clinic")
    assert info.value.code == "no_backup"


def test_damaged_backup_is_refused(store):
    folder = _versions(store)
    (folder / "profile.json.prev").write_bytes(b"nope")
    with pytest.raises(ProfileError) as info:
        store.restore_previous("Acme Clinic")
    assert info.value.code == "backup_damaged"
    assert store.load("Acme Clinic").org_name == "Acme v2"     # current untouched


def test_restore_of_a_good_file_is_a_swap(store):
    _versions(store)
    assert store.restore_previous("Acme Clinic").org_name == "Acme v1"
    assert store.restore_previous("Acme Clinic").org_name == "Acme v2"


def test_newer_format_is_refused_not_damaged(store):
    folder = _versions(store)
    doc = json.loads((folder / "profile.json").read_text())
    doc["format"] = PROFILE_FORMAT + 1
    (folder / "profile.json").write_text(json.dumps(doc))
    with pytest.raises(ProfileError) as info:
        store.load("Acme Clinic")
    assert info.value.code == "newer_format" and info.value.fields["format"] == PROFILE_FORMAT + 1


@pytest.mark.skipif(not RO_SUPPORTED, reason="no way to make a folder read-only here (see test_storage)")
def test_read_only_profile_folder(store):
    store.create(sample(), now=NOW)
    folder = store.path("Acme Clinic")
    before = {n: (folder / n).read_bytes() for n in os.listdir(folder)}
    os.chmod(folder, 0o500)
    try:
        result = run_checked("""
            from app.core.errors import StorageError
            from app.core.profile import ProfileStore
            s = ProfileStore()
            p = s.load("Acme Clinic")
            p.org_name = "changed"
            try:
                s.save(p)
                print("SAVED")
            except StorageError as e:
                print(e.code)
            """, store.home)
    finally:
        os.chmod(folder, 0o700)
    assert result.stdout.split() == ["read_only"], result.stderr
    assert {n: (folder / n).read_bytes() for n in os.listdir(folder)} == before
    assert store.load("Acme Clinic").org_name == "Acme Clinic"


def test_unreadable_profile_is_a_storage_error(store, monkeypatch):
    store.create(sample())
    import app.core.profile as profile_mod

    def denied(path, limit):
        raise StorageError("file_unreadable", path=str(path), reason="EACCES")
    monkeypatch.setattr(profile_mod, "read_bounded", denied)
    with pytest.raises(StorageError) as info:
        store.load("Acme Clinic")
    assert info.value.code == "file_unreadable"


# -- registrations --------------------------------------------------------------------------------

EP, COMM, ISS = "https://as.example/register", "urn:example:community", "https://acme.example/app"


def test_registrations_are_keyed_by_endpoint_community_and_iss(store):
    p = sample()
    rec = p.record_registration(EP, COMM, ISS, {"client_id": "c1", "granted": {"scope": "system/*.read"},
                                                "certificate_fingerprint": "AA:BB"}, now=NOW)
    assert rec["time"] == "2026-06-01T12:00:00+00:00" and rec["endpoint"] == EP
    p.record_registration(EP, "urn:other", ISS, {"client_id": "c2"}, now=NOW)
    p.record_registration(EP, COMM, "https://acme.example/other", {"client_id": "c3"}, now=NOW)
    p.record_registration("https://as2.example/register", COMM, ISS, {"client_id": "c4"}, now=NOW)
    assert p.registration_for(EP, COMM, ISS)["client_id"] == "c1"
    assert len(p.registrations) == 4
    p.record_registration(EP, COMM, ISS, {"client_id": "c1b"}, now=NOW)       # same key: replaced
    assert len(p.registrations) == 4 and p.registration_for(EP, COMM, ISS)["client_id"] == "c1b"
    store.create(p)
    loaded = store.load(p.name)
    assert loaded.registration_for(EP, "urn:other", ISS)["client_id"] == "c2"
    assert loaded.forget_registration(EP, "urn:other", ISS) is True
    assert loaded.forget_registration(EP, "urn:other", ISS) is False
    assert loaded.registration_for(EP, "urn:other", ISS) is None
    assert sorted(r["client_id"] for r in loaded.registrations_in(COMM)) == ["c1b", "c3", "c4"]


def test_registration_key_cannot_be_confused_by_a_bar():
    assert registration_key("https://a|b", "c", "d") != registration_key("https://a", "b|c", "d")
    assert registration_key(" https://a ", "c", "d") == "https://a|c|d"
    with pytest.raises(ProfileError) as info:
        registration_key("", "c", "d")
    assert info.value.code == "bad_registration_key" and info.value.fields["field"] == "endpoint"


def test_registration_record_needs_client_id_and_drops_secrets():
    p = sample()
    with pytest.raises(ProfileError) as info:
        p.record_registration(EP, COMM, ISS, {"granted": {}})
    assert info.value.code == "bad_registration_record"
    rec = p.record_registration(EP, COMM, ISS, {"client_id": "c", "client_secret": "s3cret",
                                                "granted": {"registration_access_token": "t", "scope": "x"}},
                                now=NOW)
    assert "client_secret" not in rec and rec["granted"] == {"scope": "x"}
    assert "s3cret" not in json.dumps(p.to_dict())
    with pytest.raises(ProfileError):
        p.record_registration(EP, COMM, ISS, {"client_id": "c", "when": object()})


# -- an interrupted save: SIGKILL while writing --------------------------------------------------

# One interpreter start; each round forks a writer that saves in a tight loop until the test kills it.
LAUNCHER = textwrap.dedent("""
    import os, sys
    from app.core.profile import ProfileStore
    home, name = sys.argv[1], sys.argv[2]
    store = ProfileStore(home)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        rnd = int(store.load(name).org_name.split("-")[0]) + 1
        pid = os.fork()
        if pid == 0:
            try:
                p = store.load(name)
                i = 0
                while True:
                    i += 1
                    version = f"{rnd:05d}-{i:07d}"
                    p.org_name = version
                    p.servers = [f"https://{version}.example/{n}" for n in range(400)]
                    store.save(p)
                    if i == 1:
                        print(os.getpid(), flush=True)
            except BaseException as exc:
                print("ERROR", repr(exc), flush=True)
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        print("reaped", status, flush=True)
""")


def _consistent(p: Profile) -> bool:
    return len(p.servers) == 400 and all(s.startswith(f"https://{p.org_name}.example/") for s in p.servers)


@posix_only
def test_interrupted_save_leaves_old_or_new_never_damaged(store):
    p = sample(org_name="00000-0000000")
    p.servers = [f"https://00000-0000000.example/{n}" for n in range(400)]
    store.create(p)
    rng = random.Random(20260601)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(store.home), p.name], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env)
    last, mid_write = "00000-0000000", 0
    try:
        for _ in range(30):
            launcher.stdin.write("go\n")
            launcher.stdin.flush()
            line = launcher.stdout.readline().split()
            assert line and line[0].isdigit(), line
            os.kill(int(line[0]), 0)
            time.sleep(rng.uniform(0, 0.02))
            os.kill(int(line[0]), signal.SIGKILL)
            assert launcher.stdout.readline().startswith("reaped")
            folder = store.path(p.name)
            mid_write += any(n.endswith(".tmp") for n in os.listdir(folder))
            got = store.load(p.name)                      # never "damaged"
            assert _consistent(got) and got.org_name >= last
            last = got.org_name
            prev = json.loads((folder / "profile.json.prev").read_text())
            assert prev["org_name"] <= got.org_name
    finally:
        launcher.stdin.close()
        launcher.wait(timeout=30)
    assert last > "00001"                                 # the writers really made progress
    # Most kills land inside a write (a temp file left behind); if none did, the test proved little.
    assert mid_write >= 1, (mid_write, last)
