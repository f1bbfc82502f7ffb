"""The practice UDAP authorization server + tiny FHIR endpoint, in-process on 127.0.0.1.

HTTPS (discovery, /register, /token, /fhir/*) with a certificate from the practice TLS CA, and
plain http on the CA's persisted port for AIA and CRLs, each a stdlib ThreadingHTTPServer in a
background thread. Per start, the server makes a fresh RSA-2048 UDAP key (signed_metadata must be
RS256) and a certificate whose SAN is the base URL, plus a fresh TLS key; neither key touches the
disk except, for the TLS key, encrypted under a random in-memory password for the instant
``ssl`` needs a file. The HTTPS port is remembered per data folder and reused when free, so the
base URL usually survives a restart; registrations are kept in registrations.json likewise.
Several servers on one data folder in one process share the CA and its http listener (shared_ca.py).
"""

from __future__ import annotations

import json
import logging
import os
import secrets as random
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from app.core import jose
from app.core.errors import SandboxError
from app.core.storage import atomic_write, data_home, read_bounded
from app.sandbox import community, shared_ca
from app.sandbox.ca import ORGANIZATION, PORT_RANGE, PracticeCA
from app.sandbox.rules import MODES, Answer, PracticeRules, Refusal, Registration

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20
TIMEOUT = 10.0
_JSON = "application/json"
_FHIR = "application/fhir+json"
_SERVER_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Practice UDAP server"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)])


@dataclass
class Reply:
    status: int
    content_type: str | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json_reply(answer: Answer, content_type: str = _JSON) -> Reply:
    if answer.body is None:  # bare failures, as some real servers give them
        return Reply(answer.status, "text/plain; charset=utf-8", b"Internal Server Error", answer.headers)
    return Reply(answer.status, content_type, json.dumps(answer.body).encode("utf-8"), answer.headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "udap-onboard-practice"
    sys_version = ""
    timeout = TIMEOUT

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        log.debug("practice %s", format % args)

    def do_GET(self) -> None:
        self._dispatch("GET", b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            return self._send(Reply(411, _JSON, b'{"error":"invalid_request","error_description":"Content-Length is required"}'))
        if int(length) > MAX_BODY:
            return self._send(Reply(413, _JSON, b'{"error":"invalid_request","error_description":"request body too large"}'))
        self._dispatch("POST", self.rfile.read(int(length)))

    def _dispatch(self, method: str, body: bytes) -> None:
        try:
            reply = self.server.route(method, self.path, self.headers, body)
        except Exception:  # never a traceback on the wire
            log.exception("practice server failed on %s %s", method, urlsplit(self.path).path)
            reply = Reply(500, "text/plain; charset=utf-8", b"Internal Server Error")
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.close_connection = True  # one request per connection: stop() never waits on idle keep-alives
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    """One listener; with ``tls`` the handshake runs in the request thread, not the accept loop."""

    daemon_threads = False
    block_on_close = True  # server_close() joins request threads: a clean stop
    allow_reuse_address = os.name != "nt"  # on Windows SO_REUSEADDR would let us steal a live port

    def __init__(self, port: int, route: Callable[..., Reply]) -> None:
        self.route = route
        self.tls: ssl.SSLContext | None = None
        super().__init__(("127.0.0.1", port), _Handler)

    def finish_request(self, request, client_address) -> None:
        if self.tls is None:
            return super().finish_request(request, client_address)
        request.settimeout(TIMEOUT)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            conn.close()


class _Listening:
    """A listener serving from its own thread until ``stop()``."""

    def __init__(self, srv: _Server, name: str) -> None:
        self.server = srv
        self.thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


def _route_ca(ca: PracticeCA, clock: Callable[[], datetime], method: str, path: str) -> Reply:
    """The plain-http side: AIA certificates and CRLs of the practice CA."""
    if method != "GET":
        return Reply(405, "text/plain; charset=utf-8", b"Method Not Allowed", {"Allow": "GET"})
    found = ca.http_resource(urlsplit(path).path, now=clock())
    if found is None:
        return Reply(404, "text/plain; charset=utf-8", b"Not Found")
    return Reply(200, found[0], found[1], {"Cache-Control": "max-age=3600"})


class PracticeServer:
    """The practice community's server; ``start()``/``stop()`` or ``with PracticeServer(...) as s``."""

    def __init__(self, home: str | Path | None, secrets, *, port: int | None = None, modes: Iterable[str] = (),
                 clock: Callable[[], datetime] | None = None) -> None:
        self.modes = frozenset(modes)
        for mode in sorted(self.modes - MODES):
            raise SandboxError("unknown_mode", mode=mode, known=sorted(MODES))
        self._home, self._secrets, self._port = home, secrets, port
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._servers: list[tuple[_Server, threading.Thread]] = []
        self.ca: PracticeCA | None = None
        self._folder: Path | None = None
        self.rules: PracticeRules | None = None
        self.endpoints: community.Endpoints | None = None
        self.startup_seconds: float | None = None
        self.community_uri = community.COMMUNITY_URI

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "PracticeServer":
        if self._servers:
            return self
        started = time.perf_counter()
        now = self._clock()
        self._folder = folder = data_home(self._home) / "sandbox"
        # The first server of a folder opens the CA and its http port; later ones share both.
        self.ca, owner = shared_ca.acquire(folder, self._secrets, now=now, open_listener=self._open_http)
        ca, https = self.ca, None
        try:
            https = self._bind_https(ca)
            self.endpoints = ep = community.Endpoints(f"https://127.0.0.1:{https.server_address[1]}")
            self._udap_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._udap_cert = ca.issue_leaf(self._udap_key.public_key(), subject=_SERVER_SUBJECT,
                                            san_uris=[ep.base_url], now=now)
            https.tls = self._tls_context(ca, folder)
            self.rules = PracticeRules(
                anchors=[ca.root_cert], registration_url=ep.registration, token_url=ep.token,
                fetch=lambda url, kind: ca.fetch(url, kind, now=self._clock()), modes=self.modes,
                # registrations.json and the remembered port belong to the folder's first server;
                # the others (new port each start) keep their registrations in memory only.
                registrations=self._load_registrations(folder) if owner else [],
                on_change=self._save_registrations if owner else None)
            if owner:
                ca.remember_https_port(https.server_address[1])
        except BaseException:
            if https is not None:
                https.server_close()
            shared_ca.release(folder)
            raise
        self._servers = [(https, threading.Thread(target=https.serve_forever, kwargs={"poll_interval": 0.05},
                                                  name="practice-https", daemon=True))]
        self._servers[0][1].start()
        self.startup_seconds = time.perf_counter() - started
        return self

    def stop(self) -> None:
        """Stop the listener (and the CA's, if last), wait for requests in flight, close every socket. Idempotent."""
        servers, self._servers = self._servers, []
        for srv, thread in servers:
            srv.shutdown()
            srv.server_close()
            thread.join(TIMEOUT)
        if servers:
            shared_ca.release(self._folder)

    def __enter__(self) -> "PracticeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def _open_http(self, ca: PracticeCA) -> "_Listening":
        """The CA's plain-http listener (AIA, CRLs) on its persisted port; shared_ca calls it once per folder."""
        clock = self._clock
        try:
            srv = _Server(ca.http_port, lambda method, path, headers, body: _route_ca(ca, clock, method, path))
        except OSError:
            raise SandboxError("http_port_in_use", port=ca.http_port, folder=str(ca.folder)) from None
        return _Listening(srv, "practice-http")

    def _bind_https(self, ca: PracticeCA) -> _Server:
        if self._port is not None:
            try:
                return _Server(self._port, self._route_https)
            except OSError:
                raise SandboxError("port_in_use", port=self._port) from None
        candidates = [ca.https_port] if ca.https_port else []
        candidates += [PORT_RANGE[0] + random.randbelow(PORT_RANGE[1] - PORT_RANGE[0]) for _ in range(30)] + [0]
        for port in candidates:
            if port == ca.http_port:
                continue
            try:
                return _Server(port, self._route_https)
            except OSError:
                continue
        raise SandboxError("no_free_port", low=PORT_RANGE[0], high=PORT_RANGE[1])

    @staticmethod
    def _tls_context(ca: PracticeCA, folder: Path) -> ssl.SSLContext:
        # Real clock on purpose: the TLS peer checks the certificate against its own real clock.
        key = ec.generate_private_key(ec.SECP256R1())
        cert = ca.issue_tls_certificate(key.public_key(), now=datetime.now(timezone.utc))
        password = random.token_bytes(32)
        pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        path = atomic_write(folder / f".tls-{random.token_hex(6)}.pem", pem)
        try:
            ctx.load_cert_chain(path, password=password)
        finally:
            path.unlink(missing_ok=True)
        return ctx

    # --- registrations on disk -----------------------------------------------------------------

    def _registrations_path(self) -> Path:
        return self.ca.folder / "registrations.json"

    def _load_registrations(self, folder: Path) -> list[Registration]:
        path = folder / "registrations.json"
        if not path.exists():
            return []
        try:
            return [Registration(**item) for item in json.loads(read_bounded(path, 16 << 20))]
        except (ValueError, TypeError):
            raise SandboxError("registrations_damaged", path=str(path)) from None

    def _save_registrations(self, registrations: list[Registration]) -> None:
        data = json.dumps([r.to_dict() for r in registrations], indent=2).encode("utf-8")
        atomic_write(self._registrations_path(), data)

    # --- what it tells the app -----------------------------------------------------------------

    def _require(self) -> community.Endpoints:
        if not self._servers or self.endpoints is None:
            raise SandboxError("not_started")
        return self.endpoints

    @property
    def base_url(self) -> str:
        return self._require().base_url

    @property
    def registration_url(self) -> str:
        return self._require().registration

    @property
    def token_url(self) -> str:
        return self._require().token

    @property
    def http_base(self) -> str:
        self._require()
        return self.ca.http_base

    @property
    def tls_anchor_pem(self) -> str:
        self._require()
        return self.ca.tls_ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def describe(self) -> dict:
        """This running instance as a trust community (name, URI, anchors, base URL, "hard")."""
        return community.describe(self.ca, self._require())

    # --- routes --------------------------------------------------------------------------------

    def _route_https(self, method: str, path: str, headers, body: bytes) -> Reply:
        url, now, ep = urlsplit(path), self._clock(), self.endpoints
        routes = {"/fhir/.well-known/udap": "GET", "/register": "POST", "/token": "POST",
                  "/fhir/metadata": "GET", "/fhir/Patient": "GET"}
        if url.path not in routes:
            return Reply(404, _JSON, b'{"error":"not_found"}')
        if method != routes[url.path]:
            return Reply(405, _JSON, b'{"error":"method_not_allowed"}', {"Allow": routes[url.path]})
        if url.path == "/register":
            return _json_reply(self.rules.register(headers.get("Content-Type"), body, now=now))
        if url.path == "/token":
            return _json_reply(self.rules.token(headers.get("Content-Type"), body, now=now))
        if url.path == "/fhir/.well-known/udap":
            return self._discovery(url.query, now)
        resource = "Patient" if url.path == "/fhir/Patient" else None
        try:
            self.rules.authorize(headers.get("Authorization"), resource, now=now)
        except Refusal as r:
            outcome = {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "login" if r.status == 401 else "forbidden", "diagnostics": r.description}]}
            return Reply(r.status, _FHIR, json.dumps(outcome).encode("utf-8"),
                         {"WWW-Authenticate": f'Bearer error="{r.error}", error_description="{r.description}"'})
        data = community.patient_bundle(ep) if resource else community.capability_statement(ep, now)
        return Reply(200, _FHIR, json.dumps(data).encode("utf-8"))

    def _discovery(self, query: str, now: datetime) -> Reply:
        asked = parse_qs(query).get("community")
        if asked and asked[0] != self.community_uri:
            return Reply(204)  # IG §2.4: no certificate for that community
        body = community.metadata(self.endpoints)
        body["signed_metadata"] = jose.sign(community.signed_metadata_claims(self.endpoints, now), self._udap_key,
                                            [self._udap_cert, self.ca.intermediate_cert], alg="RS256")
        return Reply(200, _JSON, json.dumps(body).encode("utf-8"))

