import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from contextlib import contextmanager
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from app import __version__
from app.core import http
from app.core.errors import NetworkError
from app.core.evidence import AuditTrail
from app.core.redact import REDACTED, SIGNATURE_REMOVED
from tests.pki import NOW, cached_key, make_ca, name

MiB = 1024 * 1024


def policy_for(handler, **kw):
    kw.setdefault("clock", lambda: NOW)
    return http.HttpPolicy(transport=httpx.MockTransport(handler), audit=AuditTrail(), **kw)


def json_response(obj, status=200, **headers):
    return httpx.Response(status, json=obj, headers={"Date": format_datetime(NOW, usegmt=True), **headers})


def raises(code, fn, *a, **kw):
    with pytest.raises(NetworkError) as e:
        fn(*a, **kw)
    assert e.value.code == code, e.value
    return e.value


# ---- URL policy ---------------------------------------------------------------------------------

@pytest.mark.parametrize("host,expected", [
    ("127.0.0.1", True), ("127.5.6.7", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST.", True), ("localhost.evil.example", False), ("128.0.0.1", False), ("example.org", False),
    ("0.0.0.0", False), ("", False)])
def test_is_loopback(host, expected):
    assert http.is_loopback(host) is expected


@pytest.mark.parametrize("url,kind,allow,code", [
    ("https://fhir.example.org/r4", "json", False, None),
    ("http://fhir.example.org/r4", "json", True, "insecure_url"),
    ("http://127.0.0.1:8080/r4", "json", False, "insecure_url"),
    ("http://127.0.0.1:8080/r4", "json", True, None),
    ("http://[::1]:8080/r4", "json", True, None),
    ("http://localhost/r4", "json", True, None),
    ("http://pki.example.org/root.crl", "crl", False, None),
    ("http://pki.example.org/root.cer", "aia", False, None),
    ("ldap://pki.example.org/cn=x", "crl", False, "bad_url"),
    ("ftp://x.example/a", "json", False, "bad_url"),
    ("not a url", "json", False, "bad_url"),
])
def test_check_url(url, kind, allow, code):
    if code is None:
        http.check_url(url, kind=kind, allow_insecure_loopback=allow)
    else:
        raises(code, http.check_url, url, kind=kind, allow_insecure_loopback=allow)


def test_insecure_url_is_refused_before_any_request():
    calls = []
    p = policy_for(lambda r: calls.append(r) or json_response({}))
    raises("insecure_url", http.get_json, p, "http://fhir.example.org/.well-known/udap")
    assert calls == []


# ---- happy path, headers, audit, clock ----------------------------------------------------------

def test_get_json_headers_params_and_audit():
    seen = {}

    def handler(request):
        seen["request"] = request
        return json_response({"ok": True})

    p = policy_for(handler, extra_headers={"X-Test-Harness": "team-7"})
    ex = http.get_json(p, "https://fhir.example.org/r4/.well-known/udap", params={"community": "udap://fhir.net/"},
                       step="discovery")
    req = seen["request"]
    assert req.headers["user-agent"] == f"udap-onboard/{__version__}"
    assert req.headers["accept"] == "application/json"
    assert req.headers["x-test-harness"] == "team-7"
    assert req.url.query == b"community=udap%3A%2F%2Ffhir.net%2F"
    assert ex.data == {"ok": True} and ex.status == 200 and ex.skew_seconds == 0 and not ex.clock_warning
    [entry] = p.audit.entries
    assert entry.step == "discovery" and entry.status == 200 and entry.server_date == NOW.isoformat()
    assert json.loads(entry.response_body) == {"ok": True}


@pytest.mark.parametrize("offset,warn", [(45, True), (-31, True), (10, False), (-30, False)])
def test_clock_skew(offset, warn):
    date = format_datetime(NOW + dt.timedelta(seconds=offset), usegmt=True)
    p = policy_for(lambda r: httpx.Response(200, json={}, headers={"Date": date}))
    ex = http.get_json(p, "https://h.example/x")
    assert ex.skew_seconds == offset and ex.clock_warning is warn


@pytest.mark.parametrize("headers", [{}, {"Date": "yesterday-ish"}])
def test_clock_without_usable_date(headers):
    p = policy_for(lambda r: httpx.Response(200, json={}, headers=headers))
    ex = http.get_json(p, "https://h.example/x")
    assert ex.server_date is None and ex.skew_seconds is None and not ex.clock_warning


# ---- statuses and bodies ------------------------------------------------------------------------

def test_http_status_has_status_and_redacted_excerpt():
    token = "eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    p = policy_for(lambda r: httpx.Response(500, text=f"oops {token} " + "x" * 2000))
    err = raises("http_status", http.get_json, p, "https://h.example/x")
    assert err.fields["status"] == 500 and err.fields["excerpt"].startswith("oops eyJ")
    assert "c2lnbmF0dXJlc2lnbmF0dXJl" not in err.fields["excerpt"] and len(err.fields["excerpt"]) <= 300


def test_html_is_not_json_and_array_is_not_object():
    p = policy_for(lambda r: httpx.Response(200, html="<html><body>Login</body></html>"))
    err = raises("not_json", http.get_json, p, "https://h.example/x")
    assert "text/html" in err.fields["content_type"] and "Login" in err.fields["excerpt"]
    p = policy_for(lambda r: httpx.Response(200, json=[1, 2]))
    assert raises("not_json_object", http.get_json, p, "https://h.example/x").fields["json_type"] == "list"


def test_expected_statuses_pass_through():
    p = policy_for(lambda r: httpx.Response(404, html="nope"))
    ex = http.get_json(p, "https://h.example/x", expect=(200, 404))
    assert ex.status == 404 and ex.data is None


def test_post_json_returns_any_status_and_parses_leniently():
    bodies = []

    def handler(request):
        bodies.append(request)
        if len(bodies) == 1:
            return httpx.Response(400, json={"error": "invalid_software_statement"})
        return httpx.Response(500, html="<h1>boom</h1>")

    p = policy_for(handler)
    ex = http.post_json(p, "https://as.example/register", {"udap": "1"})
    assert ex.status == 400 and ex.data == {"error": "invalid_software_statement"}
    assert bodies[0].headers["content-type"] == "application/json" and json.loads(bodies[0].content) == {"udap": "1"}
    ex = http.post_json(p, "https://as.example/register", {"udap": "1"})
    assert ex.status == 500 and ex.data is None
    raises("http_status", http.post_json, p, "https://as.example/register", {}, expect=(201,))


def test_post_form_is_encoded_and_audited_redacted():
    assertion = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjIn0.U0lHTkFUVVJFU0lHTkFUVVJF"
    seen = []
    p = policy_for(lambda r: seen.append(r) or httpx.Response(200, json={"access_token": "tok-0123456789"}))
    ex = http.post_form(p, "https://as.example/token", {"grant_type": "client_credentials",
                                                          "client_assertion": assertion},
                        headers={"Authorization": "Bearer abcdefghijkl"})
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"client_assertion=" + assertion.encode() in seen[0].content
    assert ex.data["access_token"] == "tok-0123456789"
    dumped = json.dumps(p.audit.to_jsonable())
    assert "U0lHTkFUVVJFU0lHTkFUVVJF" not in dumped and "tok-0123456789" not in dumped
    assert "abcdefghijkl" not in dumped and SIGNATURE_REMOVED in dumped and f"Bearer {REDACTED}" in dumped


# ---- size caps ----------------------------------------------------------------------------------

def test_declared_length_over_cap_is_refused_without_reading():
    p = policy_for(lambda r: httpx.Response(200, headers={"Content-Length": str(2 * MiB)}, content=b"{}"))
    err = raises("too_large", http.get_json, p, "https://h.example/x")
    assert err.fields["limit"] == MiB and err.fields["size"] == 2 * MiB


def test_cap_is_enforced_while_streaming():
    produced = []

    def chunks():
        for i in range(40):
            produced.append(i)
            yield b" " * 65536

    p = policy_for(lambda r: httpx.Response(200, content=chunks()))
    raises("too_large", http.get_json, p, "https://h.example/x")
    assert len(produced) <= 17  # stopped just past 1 MiB, not after 2.5 MiB
    assert p.audit.entries[-1].error["code"] == "too_large"


def test_crl_cap_is_five_mib_and_http_is_allowed():
    p = policy_for(lambda r: httpx.Response(200, content=b"\x30" * (4 * MiB)))
    assert len(http.fetch_bytes(p, "http://pki.example/root.crl", "crl")) == 4 * MiB
    p = policy_for(lambda r: httpx.Response(200, content=b"\x30" * (5 * MiB + 1)))
    assert raises("too_large", http.fetch_bytes, p, "http://pki.example/root.crl").fields["limit"] == 5 * MiB


def test_fetcher_for_trust():
    p = policy_for(lambda r: httpx.Response(200, content=b"DER") if r.url.path == "/ok.cer"
                   else httpx.Response(404, text="missing"))
    fetch = http.fetcher(p)
    assert fetch("http://pki.example/ok.cer", "aia") == b"DER"
    assert raises("http_status", fetch, "http://pki.example/gone.crl", "crl").fields["status"] == 404
    raises("bad_url", fetch, "http://pki.example/ok.cer", "json")


def test_total_deadline():
    def chunks():
        for _ in range(3):
            yield b"x"

    p = policy_for(lambda r: httpx.Response(200, content=chunks()), total_timeout=-1)
    assert raises("timeout", http.get_json, p, "https://h.example/x").fields["phase"] == "total"


# ---- redirects ----------------------------------------------------------------------------------

def _redirecting(table):
    seen = []

    def handler(request):
        seen.append(request)
        target = table.get(request.url.path)
        if target is None:
            return json_response({"path": request.url.path})
        status, location = target
        return httpx.Response(status, headers={"Location": location})

    return handler, seen


def test_same_origin_redirects_followed_up_to_three():
    handler, seen = _redirecting({"/a": (302, "/b"), "/b": (301, "https://h.example/c"), "/c": (308, "d")})
    p = policy_for(handler)
    ex = http.get_json(p, "https://h.example/a")
    assert ex.data == {"path": "/d"} and ex.url == "https://h.example/d" and len(p.audit.entries) == 4


def test_fourth_redirect_is_refused():
    handler, _ = _redirecting({"/a": (302, "/b"), "/b": (302, "/c"), "/c": (302, "/d"), "/d": (302, "/e")})
    raises("too_many_redirects", http.get_json, policy_for(handler), "https://h.example/a")


@pytest.mark.parametrize("location,reason", [
    ("https://evil.example/x", "other_origin"), ("https://h.example:8443/x", "other_origin"),
    ("http://h.example/x", "https_to_http"), ("//evil.example/x", "other_origin")])
def test_cross_origin_redirect_refused(location, reason):
    handler, seen = _redirecting({"/a": (302, location)})
    err = raises("redirect_refused", http.get_json, policy_for(handler), "https://h.example/a")
    assert err.fields["reason"] == reason and len(seen) == 1


def test_post_redirects_only_with_307_308():
    handler, seen = _redirecting({"/reg": (307, "/reg2"), "/old": (302, "/reg2")})
    p = policy_for(handler)
    ex = http.post_json(p, "https://h.example/reg", {"a": 1})
    assert ex.data == {"path": "/reg2"} and seen[1].method == "POST" and json.loads(seen[1].content) == {"a": 1}
    err = raises("redirect_refused", http.post_json, p, "https://h.example/old", {"a": 1})
    assert err.fields["reason"] == "method_change"


# ---- failures mapped to codes -------------------------------------------------------------------

def _cert_error(code, message="verify failed"):
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    err.verify_code, err.verify_message = code, message
    return err


def _raising(exc_factory, cause=None):
    def handler(request):
        exc = exc_factory(request)
        if cause is None:
            raise exc
        raise exc from cause
    return handler


@pytest.mark.parametrize("handler,code", [
    (_raising(lambda r: httpx.ConnectTimeout("t", request=r)), "timeout"),
    (_raising(lambda r: httpx.ReadTimeout("t", request=r)), "timeout"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), socket.gaierror(-2, "Name or service not known")),
     "dns_failed"),
    (_raising(lambda r: httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=r)),
     "dns_failed"),
    (_raising(lambda r: httpx.ConnectError("refused", request=r), ConnectionRefusedError(111, "refused")),
     "connect_failed"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), _cert_error(10, "certificate has expired")),
     "tls_expired"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), _cert_error(9)), "tls_not_yet_valid"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), _cert_error(62)), "tls_wrong_name"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), _cert_error(64)), "tls_wrong_name"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), _cert_error(20)), "tls_unknown_ca"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), _cert_error(19)), "tls_unknown_ca"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), _cert_error(23)), "tls_revoked"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), _cert_error(99)), "tls_failed"),
    (_raising(lambda r: httpx.ConnectError("x", request=r), ssl.SSLError(1, "wrong version number")),
     "tls_failed"),
    (_raising(lambda r: httpx.RemoteProtocolError("bad", request=r)), "protocol_error"),
    (_raising(lambda r: httpx.ReadError("reset", request=r)), "connection_lost"),
    (_raising(lambda r: httpx.DecodingError("gzip", request=r)), "bad_content_encoding"),
])
def test_failures_become_network_errors(handler, code):
    p = policy_for(handler)
    raises(code, http.get_json, p, "https://h.example/x")
    [entry] = p.audit.entries
    assert entry.error["code"] == code and entry.status is None


def test_other_exceptions_are_not_swallowed():
    p = policy_for(_raising(lambda r: ZeroDivisionError()))
    with pytest.raises(ZeroDivisionError):
        http.get_json(p, "https://h.example/x")


# ---- TLS context ---------------------------------------------------------------------------------

def test_missing_ssl_cert_file_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "missing-dir"))
    ctx = http.build_ssl_context(http.HttpPolicy())
    assert ctx.cert_store_stats()["x509_ca"] > 0
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    policy = http.HttpPolicy()
    http.make_client(policy).close()
    assert policy.ssl_context() is policy.ssl_context()  # built once per policy


def test_bad_tls_anchor():
    raises("bad_tls_anchor", http.build_ssl_context, http.HttpPolicy(tls_anchors_pem=["not a pem"]))


# ---- real TLS over loopback ----------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"ok": True, "ua": self.headers.get("User-Agent")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def serve(tmp_path, issued=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if issued is not None:
        cert, key = issued
        (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tls_ca():
    return make_ca("Loopback TLS Test Root", key=cached_key("rsa2048", 9))


def server_cert(ca, *, ips=("127.0.0.1",), dns=("localhost",), days=(-1, 30)):
    now = dt.datetime.now(dt.timezone.utc)  # TLS is checked by OpenSSL against the real clock
    key = cached_key("rsa2048", 10)
    names = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]
    cert = (x509.CertificateBuilder().subject_name(name("loopback server")).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=days[0])).not_valid_after(now + dt.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca.key, hashes.SHA256()))
    return cert, key


def test_tls_trusted_through_community_anchor(tmp_path, tls_ca):
    policy = http.HttpPolicy(tls_anchors_pem=[tls_ca.pem.decode()])
    with serve(tmp_path, server_cert(tls_ca)) as port:
        for host in ("127.0.0.1", "localhost"):
            ex = http.get_json(policy, f"https://{host}:{port}/x")
            assert ex.data == {"ok": True, "ua": f"udap-onboard/{__version__}"}


def test_tls_unknown_ca(tmp_path, tls_ca):
    with serve(tmp_path, server_cert(tls_ca)) as port:
        raises("tls_unknown_ca", http.get_json, http.HttpPolicy(), f"https://127.0.0.1:{port}/x")


def test_tls_wrong_name(tmp_path, tls_ca):
    policy = http.HttpPolicy(tls_anchors_pem=[tls_ca.pem.decode()])
    with serve(tmp_path, server_cert(tls_ca, ips=(), dns=("other.example",))) as port:
        raises("tls_wrong_name", http.get_json, policy, f"https://127.0.0.1:{port}/x")
        raises("tls_wrong_name", http.get_json, policy, f"https://localhost:{port}/x")


def test_tls_expired(tmp_path, tls_ca):
    policy = http.HttpPolicy(tls_anchors_pem=[tls_ca.pem.decode()])
    with serve(tmp_path, server_cert(tls_ca, days=(-30, -1))) as port:
        raises("tls_expired", http.get_json, policy, f"https://127.0.0.1:{port}/x")


def test_plain_http_loopback_only_when_allowed(tmp_path):
    with serve(tmp_path) as port:
        url = f"http://127.0.0.1:{port}/x"
        raises("insecure_url", http.get_json, http.HttpPolicy(), url)
        assert http.get_json(http.HttpPolicy(allow_insecure_loopback=True), url).data["ok"] is True


def test_connection_refused_on_loopback():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    raises("connect_failed", http.get_json, http.HttpPolicy(allow_insecure_loopback=True),
           f"http://127.0.0.1:{port}/x")



# ---- the session's shared client -----------------------------------------------------------------

class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive offered; records each request's peer port and Cookie header."""

    protocol_version = "HTTP/1.1"
    seen: list = []

    def do_GET(self):  # noqa: N802 - stdlib name
        type(self).seen.append((self.server.server_port, self.client_address[1], self.headers.get("Cookie")))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", f"route=server{self.server.server_port}; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_shared_client_keeps_no_cookie_and_no_connection_between_exchanges():
    _KeepAliveHandler.seen = []
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    pool = http.ClientPool()
    policy = http.HttpPolicy(allow_insecure_loopback=True, clients=pool)
    try:
        a, b = (f"http://127.0.0.1:{s.server_port}/x" for s in servers)
        for url in (a, a, b):
            assert http.get_json(policy, url).data == {"ok": True}
        assert pool.get(policy) is pool.get(http.HttpPolicy(allow_insecure_loopback=True, clients=pool))
        ports = [port for _, port, _ in _KeepAliveHandler.seen]
        # a new connection per exchange (the deadline watchdog only sees new ones), no cookie ever sent
        assert len(set(ports)) == 3 and [c for _, _, c in _KeepAliveHandler.seen] == [None] * 3
    finally:
        pool.close()
        for s in servers:
            s.shutdown()
            s.server_close()
    assert pool.get(policy) is not None  # a closed pool makes a fresh client on demand
    pool.close()
