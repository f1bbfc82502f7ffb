"""Every way a server can misbehave at discovery, registration and token, against the real step functions.

Each case drives app/core/onboarding.py (discover / register / request_token) with a real Session in
a throwaway home against tests/hardening/faultserver.py and checks: a typed error with the expected
code; ui.feedback.describe() has a specific entry for it with every placeholder filled; profile.json
and the key container are byte-identical afterwards (register rewrites the profile even after a
failure; with the test's fixed clock and the server already listed, the rewrite must be identical);
and the client tried no more often than designed, counted both by the server and by the client's
own audit trail: once; twice for a same-origin redirect it follows; 1 + MAX_REDIRECTS for a redirect
loop; zero POSTs after a refusal it must not retry. A JSON body under a wrong Content-Type is
accepted on purpose (the content is validated anyway). Short timeouts come in through HttpPolicy:
the file takes about 10 s, 5 s of which are the 13 cases that must end by a timeout.
"""

from __future__ import annotations

import dataclasses
import shutil
import string
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.core import errors, http, onboarding
from app.core.errors import UdapOnboardError
from app.core.secrets import MemorySecretStore
from app.core.session import Session
from app.ui.feedback import describe, has_entry
from app.ui.feedback_table import MESSAGES
from tests.hardening.faultserver import COMMUNITY_NAME, Fault, FaultServer

CONNECT, READ, TOTAL = 0.2, 0.2, 0.5
NOW = datetime.now(timezone.utc).replace(microsecond=0)  # one instant for server, client and profile stamps
URI = "https://apps.example-clinic.org/udap/faults"
PATHS = {"discovery": "/fhir/.well-known/udap", "registration": "/register", "token": "/token"}
STEPS = tuple(PATHS)
_SSL_CACHE: dict = {}


class FastSession(Session):
    """The real Session with the test's short timeouts (the product's are 5 s / 15 s / 60 s), and TLS
    contexts shared between the tests' sessions (loading the system store costs ~50-150 ms each)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ssl_cache = _SSL_CACHE

    def http_policy(self, community=None, step=None):
        return dataclasses.replace(super().http_policy(community, step), connect_timeout=CONNECT,
                                   read_timeout=READ, total_timeout=TOTAL)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with FaultServer(tmp_path_factory.mktemp("faultserver"), NOW) as s:
        yield s


@dataclasses.dataclass
class Template:
    home: Path
    secrets: MemorySecretStore
    key: object


@pytest.fixture(scope="module")
def template(server, tmp_path_factory):
    """A home with a registered profile (key, certificate, client_id), made once and copied per test."""
    home = tmp_path_factory.mktemp("template") / "home"
    store = MemorySecretStore()
    session = FastSession(home, secrets=store, clock=lambda: NOW)
    session.communities.add(server.community())
    profile, _ = onboarding.create_profile(session, "clinic", org_name="Example Clinic", client_name="Clinic B2B",
                                           client_uri=URI, contact="it@example-clinic.org", community=COMMUNITY_NAME)
    onboarding.generate_key(session, profile, "rsa-2048")
    key = onboarding.load_key(session, profile)
    leaf = server.issue_client(key, URI)
    check = onboarding.import_certificate(session, profile, [leaf.pem, server.intermediate.pem],
                                          community=COMMUNITY_NAME)
    assert check.saved and check.ok, check.to_dict()
    server.script()
    rows = onboarding.register(session, profile, [server.base_url()], COMMUNITY_NAME)
    assert rows[0].outcome == "registered", rows[0].to_dict()
    session.close()
    return Template(home, store, key)


@dataclasses.dataclass
class Env:
    session: FastSession
    profile: object
    folder: Path

    def snapshot(self) -> dict[str, bytes]:
        return {name: (self.folder / name).read_bytes() for name in ("profile.json", "key.p12")}


@pytest.fixture
def env(template, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    session = FastSession(home, secrets=template.secrets, clock=lambda: NOW)
    profile = session.profiles.load("clinic")
    path = onboarding.key_path(session, profile)
    session.key_cache[str(path)] = (path.stat().st_mtime_ns, template.key)  # skip the 600k-round decryption
    yield Env(session, profile, path.parent)
    session.close()


# ---------------------------------------------------------------- driving one step

def error_from(explanation: dict) -> UdapOnboardError:
    """A register row's explanation back into the typed error, as the wizard's connect page does."""
    classes = [c for c in _all_subclasses(UdapOnboardError) if c.domain == explanation["domain"]]
    return (classes[0] if classes else UdapOnboardError)(explanation["code"], **explanation["fields"])


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def run_step(env: Env, server: FaultServer, step: str, base_url: str):
    """(typed error or None, result) from the real step function; anything untyped propagates."""
    if step == "discovery":
        report = onboarding.discover(env.session, base_url, COMMUNITY_NAME)
        return report.error, report
    if step == "registration":
        row = onboarding.register(env.session, env.profile, [base_url], COMMUNITY_NAME)[0]
        if row.ok:
            return None, row
        return error_from(row.explanation), row
    try:
        return None, onboarding.request_token(env.session, env.profile, base_url, "metadata")
    except UdapOnboardError as exc:
        return exc, None


def assert_explained(err: UdapOnboardError) -> None:
    """A specific entry (not the domain's general sentence, not the 'unexpected' fallback), all
    placeholders filled from the error's own fields."""
    assert has_entry(err.domain, err.code), f"no message for {err.domain}.{err.code}"
    for template in MESSAGES[f"{err.domain}.{err.code}"]:
        wanted = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        assert wanted <= set(err.fields), (err.code, wanted - set(err.fields))
    exp = describe(err)
    assert exp.summary and exp.next_step and "unexpected" not in exp.summary.lower()
    assert "Traceback" not in exp.details


def attempts(env: Env, step: str) -> int:
    """How many exchanges the client itself recorded for this step's endpoint (its audit trail)."""
    return sum(1 for e in env.session.audit.entries
               if urlsplit(e.url).path in (PATHS[step], "/moved" + PATHS[step]))


# ---------------------------------------------------------------- the case table

def net(code: str) -> dict:
    return {s: ("network", code) for s in STEPS}


def content(discovery: str, registration: str, token: str) -> dict:
    return {"discovery": ("network", discovery), "registration": ("registration", registration),
            "token": ("token", token)}


HTML_502 = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
            b"</h1></center><hr><center>nginx</center></body></html>")
HTML_LOGIN = b"<!DOCTYPE html><html><body><form action='/login'>Sign in to the guest network</form></body></html>"
SUCCESS = {s: None for s in STEPS}


@dataclasses.dataclass
class Case:
    id: str
    fault: Fault | dict  # one fault for every step, or per step (a missing step is not applicable)
    expect: dict         # step -> (domain, code), or None when the step must succeed
    hits: int = 1        # requests the faulted endpoint may receive (connections for listener faults)
    fields: dict = dataclasses.field(default_factory=dict)
    timed: bool = False  # ends by a timeout: must end within its budget

    def fault_for(self, step: str) -> Fault | None:
        return self.fault.get(step) if isinstance(self.fault, dict) else self.fault


def per_method(get: Fault, post: Fault) -> dict:
    return {"discovery": get, "registration": post, "token": post}


CASES = [
    Case("connect_timeout", Fault(listener="blackhole"), net("timeout"), hits=0, fields={"phase": "connect"},
         timed=True),
    Case("read_timeout", Fault("read_timeout"), net("timeout"), fields={"phase": "read"}, timed=True),
    Case("slow_drip_body", Fault("drip_body"), net("timeout"), fields={"phase": "total"}, timed=True),
    Case("slow_drip_headers", Fault("drip_headers"), net("timeout"), fields={"phase": "total"}, timed=True),
    Case("connection_reset", Fault("reset"), net("connection_lost")),
    Case("hang_up_without_answer", Fault("close"), net("connection_lost")),
    Case("hang_up_mid_body", Fault("raw", body=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                                b"Content-Length: 1000\r\n\r\n{\"client_id\": "),
         net("connection_lost")),
    Case("not_http_at_all", Fault("raw", body=b"SSH-2.0-OpenSSH_9.6\r\n\r\n"), net("protocol_error")),
    Case("status_500_json", Fault("status", 500), content("http_status", "server_error", "server_error"),
         fields={"status": 500}),
    Case("status_502_html_page", Fault("status", 502, content_type="text/html", body=HTML_502),
         content("http_status", "server_error", "server_error"), fields={"status": 502}),
    Case("status_503_retry_after", Fault("status", 503, content_type="text/plain", body=b"Service Unavailable"),
         content("http_status", "server_error", "server_error"), fields={"status": 503}),
    Case("status_404_html_page", Fault("status", 404, content_type="text/html", body=b"<html><h1>Not Found</h1></html>"),
         {"discovery": ("discovery", "no_udap"), "registration": ("registration", "endpoint_not_found"),
          "token": ("token", "endpoint_not_found")}),
    Case("empty_200", Fault("body", body=b""),
         content("not_json", "success_response_unreadable", "token_response_unreadable")),
    Case("html_page_200", Fault("body", content_type="text/html; charset=utf-8", body=HTML_LOGIN),
         content("not_json", "success_response_unreadable", "token_response_unreadable")),
    Case("invalid_json", Fault("body", body=b'{"client_id": "abc", "access_token": '),
         content("not_json", "success_response_unreadable", "token_response_unreadable")),
    Case("json_array", Fault("body", body=b'[{"client_id": "abc", "access_token": "t"}]'),
         content("not_json_object", "success_response_unreadable", "token_response_unreadable")),
    Case("body_10mb_declared", Fault("huge", status=1), net("too_large")),
    Case("body_10mb_streamed", Fault("huge", status=0), net("too_large")),
    Case("gzip_bomb_10mb", Fault("gzip_bomb"), net("too_large")),  # the cap counts decoded bytes
    # same-origin redirects are followed (POST only with 307/308, which keep the method and body)
    Case("redirect_same_origin", per_method(Fault("redirect", 302, "{origin}/moved{path}"),
                                            Fault("redirect", 307, "/moved{path}")), SUCCESS, hits=2),
    Case("redirect_post_302_same_origin", {"registration": Fault("redirect", 302, "/moved{path}"),
                                           "token": Fault("redirect", 302, "/moved{path}")},
         net("redirect_refused"), fields={"reason": "method_change"}),
    Case("redirect_loop", per_method(Fault("redirect", 302, "{path}"), Fault("redirect", 307, "{path}")),
         net("too_many_redirects"), hits=1 + http.MAX_REDIRECTS),
    Case("redirect_other_origin", per_method(Fault("redirect", 302, "{other}{path}"),
                                             Fault("redirect", 307, "{other}{path}")),
         net("redirect_refused"), fields={"reason": "other_origin"}),
    Case("redirect_to_http", per_method(Fault("redirect", 302, "{http}{path}"), Fault("redirect", 307, "{http}{path}")),
         net("redirect_refused"), fields={"reason": "https_to_http"}),
    # a JSON object labelled text/html is read as JSON: the content is validated anyway (signature,
    # shape), and strictness here would only break servers with sloppy headers
    Case("wrong_content_type", Fault("content_type", content_type="text/html"), SUCCESS),
    Case("tls_wrong_name", Fault(listener="wrong_name"), net("tls_wrong_name")),
    Case("tls_self_signed", Fault(listener="self_signed"), net("tls_unknown_ca")),
    Case("tls_expired", Fault(listener="expired"), net("tls_expired")),
]
MATRIX = [pytest.param(case, step, id=f"{step}-{case.id}") for case in CASES for step in STEPS
          if case.fault_for(step) is not None]


@pytest.mark.parametrize("case,step", MATRIX)
def test_fault(case: Case, step: str, env: Env, server: FaultServer):
    fault = case.fault_for(step)
    server.script(**{step: fault})
    base = server.base_url(fault.listener) if step == "discovery" else server.base_url()
    before = env.snapshot()
    started = time.monotonic()
    err, result = run_step(env, server, step, base)
    elapsed = time.monotonic() - started
    expected = case.expect[step]

    # the client tried no more often than designed (its own audit trail and the server's counters)
    label = fault.listener
    if label in ("good", "other"):
        assert server.count(step, label) == case.hits, server.hits
        assert attempts(env, step) == case.hits
    else:  # refused or unreachable before HTTP: one connection at most, one audited attempt
        assert server.count(step, label) == 0
        assert server.count("connection", label) == case.hits
        assert attempts(env, step) == 1
    assert server.count("registration", "other") + server.count("discovery", "other") + \
        server.count("token", "other") == 0  # never followed to another origin
    assert server.count(step, "pki") == 0  # never followed to plain http
    if step != "discovery":
        assert server.count("discovery") == 1  # discovery once before the step, not once per attempt
    if step == "token":
        assert server.count("registration") == 0

    if expected is None:
        assert err is None, err
        if step == "discovery":
            assert result.ok
        elif step == "registration":
            assert result.outcome in ("registered", "modified") and result.client_id == "fault-client-1"
        else:
            assert result.ok and result.token.access_token.startswith("fault-")
        saved = env.session.profiles.load("clinic")  # a success may change the profile, and it stays readable
        assert saved.registrations and saved.certificate_chain_pem == env.profile.certificate_chain_pem
        return

    assert isinstance(err, UdapOnboardError) and not type(err) is UdapOnboardError
    assert (err.domain, err.code) == expected, err
    for k, v in case.fields.items():
        assert err.fields.get(k) == v, (k, err.fields)
    assert_explained(err)
    assert env.snapshot() == before  # byte-identical profile and key container
    if case.timed:  # ended by its own budget, not by the server giving up (HOLD_SECONDS)
        budget = {"connect": CONNECT, "read": READ, "total": TOTAL}[case.fields["phase"]]
        assert elapsed < budget + 1.0, elapsed
    assert elapsed < 5, elapsed  # nothing hangs


def test_every_step_has_every_fault():
    """The matrix is what the issue asks: each fault at each step (302-on-POST exists for POSTs only)."""
    counted = {}
    for p in MATRIX:
        case, step = p.values
        counted[step] = counted.get(step, 0) + 1
    assert counted == {"discovery": len(CASES) - 1, "registration": len(CASES), "token": len(CASES)}


def test_unapproved_refusal_is_recorded_and_never_retried(env: Env, server: FaultServer):
    """The one designed change after a failure: a refusal record, and no second POST with the same certificate."""
    refusal = Fault("body", 400, body=b'{"error":"unapproved_software_statement","error_description":"untrusted"}')
    server.script(registration=refusal)
    before = env.session.profiles.load("clinic").to_dict()
    err, row = run_step(env, server, "registration", server.base_url())
    assert (err.domain, err.code) == ("registration", "rejected_unapproved_software_statement")
    assert_explained(err)
    after = env.session.profiles.load("clinic").to_dict()
    refusals = after["refusals"]
    assert list(refusals) == [server.origin() + "/register|urn:test:faultlab"]
    assert refusals[next(iter(refusals))]["retry_with_same_certificate"] is False
    assert {k: v for k, v in after.items() if k != "refusals"} == before  # nothing else changed
    assert server.count("registration") == 1

    err, row = run_step(env, server, "registration", server.base_url())
    assert (err.domain, err.code) == ("registration", "no_retry_same_certificate")
    assert_explained(err)
    assert server.count("registration") == 1  # refused before sending (discovery may be reused: 1 or 2 GETs)
    assert server.count("discovery") in (1, 2)


def test_deadline_covers_redirect_hops(server: FaultServer):
    """total_timeout is one budget for the whole exchange: each redirect hop must not start a new one.
    Hops answer after 0.15 s; with 0.4 s for everything the third hop is cut (per-hop budgets would
    have let all four hops through and ended in too_many_redirects after 0.6 s)."""
    server.script(discovery=Fault("redirect", 302, "{path}", delay=0.15))
    policy = http.HttpPolicy(tls_anchors_pem=[server.tls_root.pem.decode()], connect_timeout=1.0,
                             read_timeout=1.0, total_timeout=0.4, ssl_cache=_SSL_CACHE)
    started = time.monotonic()
    with pytest.raises(errors.NetworkError) as e:
        http.get_json(policy, server.base_url() + "/.well-known/udap")
    assert (e.value.code, e.value.fields["phase"]) == ("timeout", "total")
    assert time.monotonic() - started < 1.0
    assert server.count("discovery") in (2, 3)


@pytest.mark.parametrize("url", ["https://xn--/register", "https://127.0.0.1:99999/register",
                                 "https://a..b/register", "https://" + "a" * 64 + ".example/register"])
def test_signed_endpoint_the_socket_layer_would_choke_on(url, env: Env, server: FaultServer):
    """A signed registration_endpoint that httpx parses but IDNA or the socket layer refuses is a
    failed discovery row (D-V8), not an IDNAError/UnicodeError escaping the step."""
    server.script(registration=Fault(endpoint=url))
    before = env.snapshot()
    err, row = run_step(env, server, "registration", server.base_url())
    assert (err.domain, err.code) == ("discovery", "endpoint_not_https"), err
    assert err.fields["value"] == url
    assert_explained(err)
    assert server.count("registration") == 0 and server.count("discovery") == 1
    assert env.snapshot() == before


@pytest.mark.parametrize("location", ["https://xn--/x", "//xn--a/x", "https://a....[/[x"])
def test_redirect_to_an_unusable_address(location, env: Env, server: FaultServer):
    server.script(discovery=Fault("redirect", 302, location))
    err, report = run_step(env, server, "discovery", server.base_url())
    assert (err.domain, err.code) == ("network", "redirect_refused") and err.fields["reason"] in (
        "bad_location", "other_origin"), err
    assert_explained(err)
    assert server.count("discovery") == 1
