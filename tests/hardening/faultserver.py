"""A misbehaving UDAP server on 127.0.0.1 for the hardening tests (not the practice community).

Each test scripts one ``Fault`` per step (discovery GET /fhir/.well-known/udap, registration POST
/register, token POST /token); every other path answers normally so the step under test is the only
one that misbehaves. The server counts the requests and connections it receives, so a test can say
how many times the client tried. Standard library only (socketserver threads, ssl); the PKI
(tests/hardening/faultpki.py) is made at run time: one TLS listener per server certificate (good,
wrong name, self-signed, expired, plus "other" for a second origin), "pki" (plain http, the CRLs)
and "blackhole" (connecting times out).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from app.core import jose
from app.core.community import TrustCommunity
from tests.hardening.faultpki import FaultPki

STEPS = {("GET", "/fhir/.well-known/udap"): "discovery", ("POST", "/register"): "registration",
         ("POST", "/token"): "token"}
TLS_LISTENERS = ("good", "other", "wrong_name", "self_signed", "expired")
COMMUNITY_NAME = "faultlab"
COMMUNITY_URI = "urn:test:faultlab"
HUGE = 10 * 1024 * 1024
HOLD_SECONDS = 10.0  # a held or dripping connection is let go after this, whatever the client does


@dataclass
class Fault:
    """What one step does. ``listener`` moves the step's endpoint (as published in the signed
    metadata) to another listener: ``blackhole`` (never accepts), ``wrong_name``, ``self_signed``,
    ``expired`` (TLS faults), ``other`` (another origin). For discovery the test uses that
    listener's base URL instead. ``location`` may use {origin}, {other} and {http} (the plain-http
    origin of this server)."""

    kind: str = "ok"
    status: int = 200
    location: str = ""
    content_type: str = ""
    body: bytes = b""
    listener: str = "good"
    interval: float = 0.04  # drip: seconds between bytes, well below the client's read timeout
    delay: float = 0.0  # seconds before the answer starts
    endpoint: str = ""  # registration/token: publish this URL verbatim in the (signed) metadata


OK = Fault()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, sock: socket.socket, label: str, owner: "FaultServer", context: ssl.SSLContext | None):
        super().__init__(sock.getsockname(), _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.label, self.owner, self.context = label, owner, context

    def finish_request(self, request, client_address) -> None:
        self.owner._hit(self.label, "connection")
        if self.context is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        request.settimeout(5)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:  # the client refused our certificate: the expected end
            self.owner.handshake_failures.append((self.label, type(exc).__name__))
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        import sys

        self.owner.errors.append(repr(sys.exc_info()[1]))


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    timeout = 5
    protocol_version = "HTTP/1.0"  # one request per connection: counts stay simple

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        moved = path.startswith("/moved/")
        if moved:
            path = path[len("/moved"):]
        step = STEPS.get((method, path))
        owner._hit(self.server.label, step or f"{method} {path}")
        fault = owner.faults.get(step, OK) if step and not moved else OK
        owner.requests.append((self.server.label, method, self.path, body[:2000]))
        if fault.delay:
            time.sleep(fault.delay)
        getattr(self, "_fault_" + fault.kind)(fault, step, path, body)

    # ------------------------------------------------------------------ normal answers
    def _normal(self, step: str | None, path: str, body: bytes) -> tuple[int, str, bytes]:
        owner = self.server.owner
        if step == "discovery":
            return 200, "application/json", json.dumps(owner.metadata()).encode()
        if step == "registration":
            return 201, "application/json", json.dumps(owner.registration_answer(body)).encode()
        if step == "token":
            return 200, "application/json", json.dumps(owner.token_answer(body)).encode()
        if path == "/fhir/metadata":
            return 200, "application/fhir+json", json.dumps(
                {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                 "fhirVersion": "4.0.1", "format": ["json"]}).encode()
        crl = owner.pki.crls.get(path)
        if crl is not None:
            return 200, "application/pkix-crl", crl
        return 404, "application/json", b'{"error":"not_found"}'

    def _answer(self, status: int, content_type: str, body: bytes, extra: dict | None = None,
                sized: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if sized:
            self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def _fault_ok(self, fault: Fault, step, path, body) -> None:
        self._answer(*self._normal(step, path, body))

    def _fault_content_type(self, fault: Fault, step, path, body) -> None:
        status, _, content = self._normal(step, path, body)
        self._answer(status, fault.content_type, content)

    def _fault_status(self, fault: Fault, step, path, body) -> None:
        extra = {"Retry-After": "0"} if fault.status == 503 else None
        self._answer(fault.status, fault.content_type or "application/json",
                     fault.body or b'{"message":"internal failure"}', extra)

    def _fault_body(self, fault: Fault, step, path, body) -> None:
        self._answer(fault.status, fault.content_type or "application/json", fault.body)

    def _fault_redirect(self, fault: Fault, step, path, body) -> None:
        owner = self.server.owner
        location = fault.location.format(origin=owner.origin(self.server.label), other=owner.origin("other"),
                                         http=owner.origin("pki"), path=path)
        self._answer(fault.status, "text/plain", b"moved", {"Location": location})

    def _fault_huge(self, fault: Fault, step, path, body) -> None:
        """10 MB of JSON-looking bytes; ``status`` 0 = no Content-Length (the body ends at close)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if fault.status:
            self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        chunk = b'{"pad":"' + b"x" * (64 * 1024 - 8)
        sent = 0
        try:
            while sent < HUGE:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the client stopped reading at its cap

    def _fault_gzip_bomb(self, fault: Fault, step, path, body) -> None:
        """10 MB of JSON-looking bytes in about 10 KB of gzip."""
        self._answer(200, "application/json", _gzip_bomb(), {"Content-Encoding": "gzip"})

    def _fault_read_timeout(self, fault: Fault, step, path, body) -> None:
        """Accept the request, then say nothing until the client gives up."""
        self._hold(lambda: None)

    def _fault_drip_body(self, fault: Fault, step, path, body) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        self._hold(lambda: self.wfile.write(b" "), fault.interval)

    def _fault_drip_headers(self, fault: Fault, step, path, body) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        self._hold(lambda: self.wfile.write(b"a"), fault.interval)

    def _fault_reset(self, fault: Fault, step, path, body) -> None:
        """RST instead of an answer (SO_LINGER 0 then close)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _fault_raw(self, fault: Fault, step, path, body) -> None:
        """Bytes that are not (or not all of) an HTTP answer, then hang up."""
        try:
            self.wfile.write(fault.body)
        except OSError:
            pass
        self.close_connection = True

    def _fault_close(self, fault: Fault, step, path, body) -> None:
        """Hang up without a single byte of answer."""
        self.close_connection = True

    def _hold(self, tick, interval: float = 0.05) -> None:
        """Call ``tick`` every ``interval`` until the client hangs up, the server stops, or HOLD_SECONDS."""
        owner = self.server.owner
        end = time.monotonic() + HOLD_SECONDS
        self.connection.settimeout(interval)
        while time.monotonic() < end and not owner.stopping.is_set():
            try:
                tick()
                if self.connection.recv(1) == b"":
                    break  # the client closed its side
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (OSError, ValueError):
                break
        self.close_connection = True


class FaultServer:
    """Listeners on 127.0.0.1: five TLS ones (see TLS_LISTENERS), ``pki`` (plain http: CRLs) and
    ``blackhole`` (a full accept queue: connecting times out). Use as a context manager."""

    def __init__(self, workdir: Path, now: dt.datetime) -> None:
        self.workdir, self.now = Path(workdir), now
        self.faults: dict[str, Fault] = {}
        self.hits: Counter = Counter()
        self.requests: list[tuple] = []
        self.errors: list[str] = []
        self.handshake_failures: list[tuple] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._socks: dict[str, socket.socket] = {}
        for label in (*TLS_LISTENERS, "pki"):
            self._socks[label] = _listen(socket.SOMAXCONN)
        self._socks["blackhole"] = _listen(0)
        self.ports = {label: s.getsockname()[1] for label, s in self._socks.items()}
        self._fillers = _fill_backlog(self.ports["blackhole"])
        pki = FaultPki(self.origin("pki") + "/pki", self.base_url(), now)
        self.pki, self.root, self.intermediate, self.tls_root = pki, pki.root, pki.intermediate, pki.tls_root
        self.issue_client = pki.issue_client
        _gzip_bomb()  # made once here: compressing 10 MB inside a request would outlast the client's budget
        self._servers: list[_HttpServer] = []
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ addresses
    def origin(self, label: str = "good") -> str:
        scheme = "http" if label == "pki" else "https"
        return f"{scheme}://127.0.0.1:{self.ports[label]}"

    def base_url(self, label: str = "good") -> str:
        return self.origin(label) + "/fhir"

    def community(self) -> TrustCommunity:
        return TrustCommunity(name=COMMUNITY_NAME, uri=COMMUNITY_URI, anchors=[self.root.pem.decode()],
                              tls_anchors=[self.tls_root.pem.decode()], revocation="hard")

    # ------------------------------------------------------------------ scripting and counting
    def script(self, **faults: Fault) -> None:
        """Set the faults for this test (steps not named behave) and zero the counters."""
        unknown = set(faults) - set(STEPS.values())
        if unknown:
            raise ValueError(f"unknown steps {unknown}")
        with self._lock:
            self.faults = dict(faults)
            self.hits.clear()
            self.requests.clear()
            self.errors.clear()
            self.handshake_failures.clear()

    def _hit(self, label: str, what: str) -> None:
        with self._lock:
            self.hits[(label, what)] += 1

    def count(self, what: str, label: str | None = None) -> int:
        """Requests for a step ("discovery", "registration", "token") or connections ("connection")."""
        with self._lock:
            return sum(n for (lab, w), n in self.hits.items() if w == what and label in (None, lab))

    # ------------------------------------------------------------------ what a good server says
    def metadata(self) -> dict:
        reg, tok = (self.faults.get(step, OK).endpoint or self.origin(self.faults.get(step, OK).listener) + path
                    for step, path in (("registration", "/register"), ("token", "/token")))
        iat = int(self.now.timestamp())
        base = self.base_url()
        claims = {"iss": base, "sub": base, "iat": iat, "exp": iat + 300, "jti": jose.new_jti(),
                  "token_endpoint": tok, "registration_endpoint": reg}
        signer = self.pki.signer
        signed = jose.sign(claims, signer.key, [signer.cert, self.intermediate.cert], alg="RS256")
        return {"udap_versions_supported": ["1"], "udap_profiles_supported": ["udap_dcr", "udap_authn", "udap_authz"],
                "udap_authorization_extensions_supported": ["hl7-b2b"],
                "udap_authorization_extensions_required": ["hl7-b2b"],
                "udap_certifications_supported": [], "udap_certifications_required": [],
                "grant_types_supported": ["client_credentials"], "scopes_supported": ["system/Patient.read"],
                "token_endpoint": tok, "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
                "registration_endpoint": reg,
                "registration_endpoint_jwt_signing_alg_values_supported": ["RS256", "ES256"],
                "signed_metadata": signed}

    def registration_answer(self, body: bytes) -> dict:
        """201 with a client_id; claims echoed unverified (this server tests the client, not statements)."""
        statement = json.loads(body)["software_statement"]
        claims = jose.decode(statement).claims
        granted = {k: claims[k] for k in ("client_name", "grant_types", "scope", "contacts",
                                          "token_endpoint_auth_method") if k in claims}
        return {"client_id": "fault-client-1", "software_statement": statement, **granted}

    def token_answer(self, body: bytes) -> dict:
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        return {"access_token": "fault-" + secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                "scope": form.get("scope", "")}

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> "FaultServer":
        for label in (*TLS_LISTENERS, "pki"):
            context = None
            if label != "pki":
                context = self.pki.server_context(label, self.workdir / label)
            server = _HttpServer(self._socks[label], label, self, context)
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"fault-{label}", daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for sock in [self._socks["blackhole"], *self._fillers]:
            sock.close()


@functools.lru_cache(maxsize=1)
def _gzip_bomb() -> bytes:
    import gzip

    return gzip.compress(b'{"pad":"' + b"x" * HUGE + b'"}', compresslevel=9)


def _listen(backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock


def _fill_backlog(port: int) -> list[socket.socket]:
    """Connections nobody accepts fill the queue of a listen(0) socket; after that the kernel drops
    new SYNs, so a client's connect() times out (a blackhole on loopback, no routing needed). Where
    a kernel queues the connection anyway, the TLS handshake then waits for a ServerHello that never
    comes, which httpx also reports as a connect timeout."""
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.05)
    return fillers
