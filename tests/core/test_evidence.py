import json
import stat
import threading
import zipfile

import pytest

from app.core import jose
from app.core.evidence import AuditTrail, decoded_jwts, export_evidence
from app.core.redact import (MAX_BODY_CHARS, REDACTED, SIGNATURE_REMOVED, redact_body, redact_headers, redact_text,
                             redact_url)
from tests.pki import NOW, make_community

ACCESS_TOKEN = "at-5f1c9e0b7d2a4c8e9f3b6a1d0c7e2f4a"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def community():
    return make_community()


@pytest.fixture(scope="module")
def assertion(community):
    return jose.sign({"iss": "client-1", "sub": "client-1", "aud": "https://as.example.org/token"},
                     community.leaf.key, [community.leaf.cert, community.intermediate.cert])


def test_jws_signature_removed_header_and_payload_kept(assertion):
    head, payload, signature = assertion.split(".")
    known: set[str] = set()
    out = redact_text(f"assertion={assertion} trailing", known)
    assert signature not in out
    assert f"{head}.{payload}.{SIGNATURE_REMOVED}" in out
    assert signature in known


def test_authorization_header_keeps_scheme_only():
    known: set[str] = set()
    out = redact_headers({"Authorization": f"Bearer {ACCESS_TOKEN}", "Cookie": "sid=abc", "Accept": "x"}, known)
    assert out == {"authorization": f"Bearer {REDACTED}", "cookie": REDACTED, "accept": "x"}
    assert ACCESS_TOKEN in known


def test_form_body_redaction(assertion):
    form = (f"grant_type=client_credentials&client_assertion={assertion}&password=hunter22"
            f"&code=abc123&scope=system%2FPatient.read")
    out = redact_body(form.encode(), "application/x-www-form-urlencoded")
    assert assertion.split(".")[2] not in out
    assert "hunter22" not in out and "abc123" not in out
    assert "grant_type=client_credentials" in out and "scope=system%2FPatient.read" in out


def test_json_body_redaction_is_key_based_and_deep(assertion):
    body = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "nested": [{"password": PASSWORD}],
            "software_statement": assertion, "error": "invalid_client", "code": "E42"}
    known: set[str] = set()
    out = redact_body(json.dumps(body).encode(), "application/json", known)
    parsed = json.loads(out)
    assert parsed["access_token"] == REDACTED
    assert parsed["nested"][0]["password"] == REDACTED
    assert parsed["software_statement"].endswith(SIGNATURE_REMOVED)
    assert parsed["code"] == "E42" and parsed["token_type"] == "Bearer"  # JSON "code" is not a secret
    assert ACCESS_TOKEN in known and PASSWORD in known


def test_unparsable_json_still_redacted_by_pattern():
    out = redact_body(b'{"access_token": "' + ACCESS_TOKEN.encode() + b'", broken', "application/json")
    assert ACCESS_TOKEN not in out


def test_private_key_pem_never_survives(community):
    from cryptography.hazmat.primitives import serialization
    pem = community.leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode()
    body = redact_body(f"oops {pem} tail".encode(), "text/plain")
    assert "PRIVATE KEY" not in body.replace("[private key", "") and pem.splitlines()[1] not in body
    assert body.endswith(" tail")


def test_url_query_secrets():
    url = f"https://h.example/cb?code=xyz123&state=s1&access_token={ACCESS_TOKEN}"
    out = redact_url(url)
    assert "xyz123" not in out and ACCESS_TOKEN not in out and "state=s1" in out
    plain = "https://h.example/.well-known/udap?community=udap%3A%2F%2Fx%2F"
    assert redact_url(plain) == plain


def test_binary_and_truncation():
    assert redact_body(b"\x30\x82\x01\xff\x00", "application/pkix-crl").startswith("<binary: 5 bytes")
    big = redact_body(b"a" * (MAX_BODY_CHARS + 10), "text/plain")
    assert len(big) < MAX_BODY_CHARS + 100 and "truncated" in big
    assert redact_body(None) is None and redact_body(b"") == ""


def test_trail_scrubs_known_secrets_in_later_entries():
    trail = AuditTrail()
    trail.record("POST", "https://as.example/token", {}, b"grant_type=client_credentials", 200,
                 {"content-type": "application/json"},
                 json.dumps({"access_token": ACCESS_TOKEN}).encode(), 0.01, "token", now=NOW)
    # the server echoes the token somewhere unexpected, in a non-JSON body
    entry = trail.record("GET", "https://fhir.example/Patient", {"Authorization": f"Bearer {ACCESS_TOKEN}"},
                         None, 401, {"content-type": "text/plain"},
                         f"token {ACCESS_TOKEN} is not valid".encode(), 0.02, now=NOW)
    assert ACCESS_TOKEN not in json.dumps(trail.to_jsonable())
    assert entry.response_body == f"token {REDACTED} is not valid"
    assert entry.elapsed_ms == 20 and entry.status == 401 and entry.method == "GET"


def test_step_context_and_explicit_step():
    trail = AuditTrail()
    with trail.step("discovery"):
        a = trail.record("GET", "https://x/", now=NOW)
        b = trail.record("GET", "https://x/", step="other", now=NOW)
    c = trail.record("GET", "https://x/", now=NOW)
    assert (a.step, b.step, c.step) == ("discovery", "other", None)


def test_learn_secret_and_thread_safety():
    trail = AuditTrail()
    trail.learn_secret(PASSWORD)

    def work(n):
        for i in range(50):
            trail.record("GET", f"https://x/{n}/{i}", response_body=f"pw {PASSWORD}".encode(), now=NOW)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(trail.entries) == 400
    assert all(e.response_body == f"pw {REDACTED}" for e in trail.entries)


def test_decoded_jwts_have_no_signature(assertion):
    found = decoded_jwts([("x", redact_text(f"a {assertion} b"))])
    assert len(found) == 1
    assert found[0]["claims"]["iss"] == "client-1" and found[0]["header"]["alg"] == "RS256"
    assert "signature" not in json.dumps(found).lower().replace("signature-removed", "")


class _Report:
    def to_dict(self):
        return {"base_url": "https://fhir.example.org/r4", "ok": False, "rows": [
            {"id": "D-V7", "title": "iss equals base", "status": "fail", "reason": "iss_not_base_url",
             "detail": {"actual": "<script>alert(1)</script>"}}]}


def _exported(tmp_path, assertion, community):
    trail = AuditTrail()
    with trail.step("token"):
        trail.record("POST", "https://as.example.org/token", {"Content-Type": "application/x-www-form-urlencoded"},
                     f"grant_type=client_credentials&client_assertion={assertion}".encode(), 200,
                     {"Content-Type": "application/json"},
                     json.dumps({"access_token": ACCESS_TOKEN, "token_type": "Bearer"}).encode(), 0.2, now=NOW)
    trail.record("GET", "https://fhir.example.org/r4/metadata", {"Authorization": f"Bearer {ACCESS_TOKEN}"}, None,
                 500, {"Content-Type": "text/html"}, b"<html><script>evil()</script></html>", 0.1, step="fhir", now=NOW)
    path = export_evidence(tmp_path / "evidence.zip",
                           profile_summary={"name": "clinic", "client_uri": "https://client.example.org/app",
                                            "password": PASSWORD},
                           trail=trail, discovery_reports=[_Report()],
                           registration_results=[{"client_id": "abc", "software_statement": assertion}],
                           certificates={"client": community.leaf.cert, "intermediate": community.intermediate.cert},
                           now=NOW)
    return path


def test_export_contains_no_secret(tmp_path, assertion, community):
    path = _exported(tmp_path, assertion, community)
    raw = path.read_bytes()
    signature = assertion.split(".")[2]
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["evidence.json", "report.html"]
        contents = [zf.read(n) for n in zf.namelist()]
    for blob in [raw, *contents]:
        for secret in (ACCESS_TOKEN, signature, PASSWORD):
            assert secret.encode() not in blob
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_export_content_and_html_is_inert(tmp_path, assertion, community):
    path = _exported(tmp_path, assertion, community)
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read("evidence.json"))
        page = zf.read("report.html").decode()
    assert [e["step"] for e in doc["exchanges"]] == ["token", "fhir"]
    assert doc["exchanges"][0]["request_body"].endswith(SIGNATURE_REMOVED)
    assert doc["certificates"][0]["label"] == "client"
    assert doc["certificates"][0]["validity"] == "valid"
    assert len(doc["certificates"][0]["sha256_fingerprint"].split(":")) == 32
    assert doc["discovery"][0]["rows"][0]["reason"] == "iss_not_base_url"
    assert doc["registrations"][0]["client_id"] == "abc"
    claims = [j["claims"] for j in doc["jwts"]]
    assert {"iss": "client-1", "sub": "client-1", "aud": "https://as.example.org/token"} in claims
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "iss_not_base_url" in page and "Bearer [redacted]" in page


def test_export_into_folder_names_the_file(tmp_path, assertion, community):
    folder = tmp_path / "out"
    folder.mkdir()
    trail = AuditTrail()
    path = export_evidence(folder, profile_summary={}, trail=trail, now=NOW)
    assert path.parent == folder and path.name == "udap-evidence-20260601T120000Z.zip"


# --- the cheap pre-checks of redact_text must never change what it returns ------------------------

def _reference_redact(text: str, known: set[str]) -> str:
    """redact_text as it was before the pre-checks: every pattern over every text."""
    import re

    from app.core import redact as ev

    def _jws(m: re.Match) -> str:
        ev.learn(known, m.group(2))
        return f"{m.group(1)}.{SIGNATURE_REMOVED}"

    def _pair(m: re.Match) -> str:
        if m.group(2) in (REDACTED, SIGNATURE_REMOVED):
            return m.group(0)
        ev.learn(known, m.group(2))
        return m.group(1) + REDACTED

    text = ev._PRIVATE_PEM.sub(f"[private key {REDACTED}]", text)
    text = ev._JWS.sub(_jws, text)
    for _ in range(3):
        before = text
        for secret in sorted(known, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        text = ev._TEXT_SECRET.sub(_pair, text)
        if text == before:
            break
    return text


_FRAGMENTS = ["password", "PassWord", "pin", "PIN", "secret", "client_secret", "access_token", "ACCESS_TOKEN",
              "registration_access_token", "private_key", "private_key_jwt", "passphrase", "code_verifier",
              "refresh_token", "x", "_", "-", "1", " ", "\t", "\n", "\x1c", "\u00a0", "\u2003", "'", '"', ":", "=",
              "&", ",", "}", "{", ".", "eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiIxIn0", "c2lnbmF0dXJlX3BhcnQ",
              "ſecret", "\u212aey", "İ", "é", "-----BEGIN PRIVATE KEY-----", "MIIB", "-----END PRIVATE KEY-----",
              "[redacted]", "hunter22hunter22"]


def test_pre_checks_agree_with_running_every_pattern():
    import random

    from app.core.redact import _TEXT_SECRET, _may_name_a_secret
    rng = random.Random(7)
    for _ in range(6000):  # ~0.5 s
        text = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 14)))
        if _TEXT_SECRET.search(text):
            assert _may_name_a_secret(text), repr(text)
        known_a = {"hunter22hunter22"} if rng.random() < 0.3 else set()
        known_b = set(known_a)
        out = redact_text(text, known_a)
        assert out == _reference_redact(text, known_b), repr(text)
        assert known_a == known_b, repr(text)
        assert redact_text(out, set(known_a)) == out, repr(text)  # nothing left for a second pass


def test_secret_names_that_only_look_like_pairs_do_not_trigger_the_pattern():
    from app.core.redact import _may_name_a_secret
    assert not _may_name_a_secret('"token_endpoint_auth_methods_supported": ["private_key_jwt"]')
    assert not _may_name_a_secret("Mon, 23 Nov 2026 13:20:35 GMT")
    assert _may_name_a_secret('{"Password" \t: "x"}') and _may_name_a_secret("pin= 1234")
    assert _may_name_a_secret("ſecret: x")  # non-ASCII text always takes the full pattern
    assert redact_text("note: password = hunter22, ok") == f"note: password = {REDACTED}, ok"


def test_secret_learned_late_in_an_entry_is_scrubbed_from_its_earlier_fields(assertion):
    token = "tok-9c1f5e2a7b3d4c6e8f0a1b2c3d4e5f6a"
    signature = assertion.split(".")[2]
    trail = AuditTrail()
    entry = trail.record("POST", f"https://as.example/token?trace={token}", {"X-Trace": f"id {token}"},
                         f"note={signature}".encode(), 200, {"content-type": "application/json"},
                         json.dumps({"access_token": token, "echo": assertion}).encode(), now=NOW)
    dumped = json.dumps(entry.to_dict())
    assert token not in dumped and signature not in dumped
    assert entry.request_headers["x-trace"] == f"id {REDACTED}" and entry.request_body == f"note={REDACTED}"
    later = trail.record("GET", "https://fhir.example/Patient", {"Accept": "application/json"}, None, 500,
                         {"content-type": "text/plain"}, f"bad {token} / {signature}".encode(), now=NOW)
    assert later.response_body == f"bad {REDACTED} / {REDACTED}"


def test_recorded_entries_leave_nothing_for_a_second_pass(assertion):
    """record() redacts each field once, then scrubs only the values it learnt meanwhile (it used
    to run all of redact_text a second time). What a second pass would still find must be nothing:
    no known value anywhere, no JWS signature, text fields a fixed point of redact_text, and JSON
    bodies a fixed point of redact_value (the JSON text itself is not free text: a second text pass
    over it would only cut escaped characters like ``\\t`` off the next word, or break the JSON)."""
    import random

    from app.core.redact import _JWS, redact_value

    rng = random.Random(11)
    pieces = _FRAGMENTS + [assertion, ACCESS_TOKEN, "access_token=" + ACCESS_TOKEN, f'"access_token": "{ACCESS_TOKEN}"',
                           "Bearer ", "db password"]

    def text() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))

    for _ in range(400):  # ~0.5 s
        trail = AuditTrail()
        for _ in range(rng.randint(1, 3)):  # later entries start with secrets already known
            body = {text(): text(), "access_token": text(), "note": [text()]} if rng.random() < 0.5 else text()
            entry = trail.record("POST", f"https://as.example/t?q={text()}", {"X-A": text(), "Authorization": text()},
                                 text().encode(), 200,
                                 {"content-type": "application/json" if isinstance(body, dict) else "text/plain",
                                  "X-B": text()},
                                 json.dumps(body).encode() if isinstance(body, dict) else body.encode(), now=NOW)
            known = trail.known_secrets()
            texts = [entry.url, entry.request_body or "", *entry.request_headers.values(),
                     *entry.response_headers.values()]
            json_body = isinstance(body, dict)
            if not json_body:
                texts.append(entry.response_body or "")
            for field in texts + [entry.response_body or ""]:
                assert not any(secret in field for secret in known), repr(field)
                assert not _JWS.search(field), repr(field)
            for field in texts:
                assert redact_text(field, set(known)) == field, repr(field)
            if json_body:
                doc = json.loads(entry.response_body)
                assert redact_value(doc, set(known)) == doc, entry.response_body


def test_member_names_that_name_a_secret():
    from app.core.redact import _names_a_secret, redact_value
    for name in ("access_token", "Password", "db password", "x-password", "PIN", "client_secret"):
        assert _names_a_secret(name), name
        assert redact_value({name: "hunter22"}) == {name: REDACTED}
    for name in ("private_key_jwt", "db_password", "token_endpoint", "spin", "password hint", "code"):
        assert not _names_a_secret(name), name
