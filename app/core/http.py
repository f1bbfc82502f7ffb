"""The one HTTP policy: every request that leaves the machine is made here.

One place decides TLS trust (system store + the community's TLS anchors, never "verify off"),
timeouts, size caps enforced while streaming, the redirect rule (same origin only, at most 3),
plain http only for loopback (or CRL/AIA, which are signed objects), and the audit trail.
Every httpx/ssl failure becomes a typed NetworkError; nothing is retried behind the user's back.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlencode

import httpx

from app import __version__
from app.core import jsonlimits
from app.core.deadline import Deadline
from app.core.errors import NetworkError
from app.core.evidence import AuditTrail
from app.core.redact import redact_text, redact_url

USER_AGENT = f"udap-onboard/{__version__}"
JSON_LIMIT = 1024 * 1024
FETCH_LIMIT = 5 * 1024 * 1024
LIMITS = {"json": JSON_LIMIT, "crl": FETCH_LIMIT, "aia": FETCH_LIMIT}
ACCEPT = {"json": "application/json", "crl": "application/pkix-crl, */*;q=0.5",
          "aia": "application/pkix-cert, application/pkcs7-mime, */*;q=0.5"}
MAX_REDIRECTS = 3
CLOCK_WARN_SECONDS = 30
EXCERPT_CHARS = 300
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# OpenSSL X509_V_ERR_* codes worth their own explanation.
_TLS_CODES = {10: "tls_expired", 9: "tls_not_yet_valid", 62: "tls_wrong_name", 64: "tls_wrong_name",
              2: "tls_unknown_ca", 18: "tls_unknown_ca", 19: "tls_unknown_ca", 20: "tls_unknown_ca",
              21: "tls_unknown_ca", 23: "tls_revoked"}
# httpcore's words for a peer that hung up before or during the answer (not a malformed answer)
_HANG_UP_MARKERS = ("server disconnected", "peer closed connection")
_DNS_MARKERS = ("name or service not known", "nodename nor servname", "getaddrinfo failed",
                "temporary failure in name resolution", "no address associated")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ClientPool:
    """A Session's httpx clients, one per TLS/timeout configuration, shared by its threads.

    Building a client costs ~0.7 ms (transports, proxy environment); httpx clients are safe to
    share between threads. Connections are still one per exchange (no keep-alive), so the
    deadline watchdog sees every socket it may have to cut (it hooks new connections only).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple, httpx.Client] = {}

    def get(self, policy: HttpPolicy) -> httpx.Client:
        # a test's transport is part of the key: the pooled client keeps it alive, so its id is not reused
        key = (tuple(policy.tls_anchors_pem or ()), policy.connect_timeout, policy.read_timeout, policy.user_agent,
               id(policy.transport))
        with self._lock:
            client = self._clients.get(key)
            if client is None or client.is_closed:
                client = self._clients[key] = make_client(policy)
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


@dataclass
class HttpPolicy:
    """What every request obeys. ``transport`` is for tests (httpx.MockTransport) only."""

    tls_anchors_pem: Sequence[str] = ()
    allow_insecure_loopback: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 60.0
    user_agent: str = USER_AGENT
    audit: AuditTrail | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], datetime] = _utcnow
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    # Shared by the policies of one Session (keyed by TLS anchors): a policy is made per request.
    ssl_cache: dict | None = field(default=None, repr=False, compare=False)
    clients: ClientPool | None = field(default=None, repr=False, compare=False)
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False, compare=False)

    def ssl_context(self) -> ssl.SSLContext:
        """Built once per policy, or per session with ``ssl_cache``: loading the system store costs ~50 ms."""
        if self._context is None:
            key = tuple(self.tls_anchors_pem or ())
            cached = self.ssl_cache.get(key) if self.ssl_cache is not None else None
            self._context = cached or build_ssl_context(self)
            if self.ssl_cache is not None and cached is None:
                self.ssl_cache[key] = self._context
        return self._context


@dataclass
class HttpExchange:
    """A finished request: final URL (after same-origin redirects), status, body, server clock."""

    method: str
    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    elapsed: float
    server_date: datetime | None = None
    skew_seconds: float | None = None  # server clock minus ours; positive = server ahead
    data: Any = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def clock_warning(self) -> bool:
        return self.skew_seconds is not None and abs(self.skew_seconds) > CLOCK_WARN_SECONDS

    def excerpt(self, limit: int = EXCERPT_CHARS) -> str:
        text = self.body[: limit * 4].decode("utf-8", errors="replace")
        return redact_text(text)[:limit]

    def json(self) -> Any:
        try:
            return jsonlimits.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise NetworkError("not_json", url=_safe(self.url), status=self.status,
                               content_type=self.content_type, excerpt=self.excerpt()) from None

    def json_object(self) -> dict[str, Any]:
        value = self.json()
        if not isinstance(value, dict):
            raise NetworkError("not_json_object", url=_safe(self.url), status=self.status,
                               json_type=type(value).__name__)
        return value


def _safe(url: Any) -> str:
    try:
        return redact_url(str(url))
    except ValueError:  # urlsplit refuses what httpx may accept, e.g. a stray "[" in the host
        return redact_text(str(url))[:200]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; nothing that merely starts with "localhost"."""
    host = (host or "").strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, kind: str = "json", allow_insecure_loopback: bool = False) -> httpx.URL:
    """https always; http for CRL/AIA fetches, or for loopback when explicitly allowed."""
    if not isinstance(url, str):
        return _check_url(url, kind, allow_insecure_loopback)
    return _checked_url(url, kind, allow_insecure_loopback)


@functools.lru_cache(maxsize=256)
def _checked_url(url: str, kind: str, allow_insecure_loopback: bool) -> httpx.URL:
    """The same few endpoint URLs come back in every exchange; parsing one costs ~0.1 ms (a refusal is
    an exception, so it is never cached). httpx.URL is immutable."""
    return _check_url(url, kind, allow_insecure_loopback)


def _check_url(url, kind: str, allow_insecure_loopback: bool) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decodes IDNA: "xn--" garbage raises idna.IDNAError, a ValueError
    except (httpx.InvalidURL, TypeError, ValueError):
        raise NetworkError("bad_url", url=str(url)[:200], reason="unparsable") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise NetworkError("bad_url", url=_safe(url), reason="not_http_url", scheme=parsed.scheme)
    if not _host_and_port_ok(parsed):
        raise NetworkError("bad_url", url=_safe(url), reason="bad_host")
    if parsed.scheme == "http" and kind not in ("crl", "aia"):
        if not (allow_insecure_loopback and is_loopback(parsed.host)):
            raise NetworkError("insecure_url", url=_safe(url), loopback=is_loopback(parsed.host))
    return parsed


def _host_and_port_ok(url: httpx.URL) -> bool:
    """What the socket layer would otherwise refuse with an untyped UnicodeError (empty or over-long
    DNS labels) or silently wrap (a port past 65535)."""
    if url.port is not None and not 0 < url.port < 65536:
        return False
    host = url.raw_host.decode("ascii", "replace").rstrip(".")
    if ":" in host:  # an IPv6 literal, already checked by httpx
        return True
    return 0 < len(host) <= 253 and all(0 < len(label) <= 63 for label in host.split("."))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port or {"http": 80, "https": 443}.get(url.scheme)


def build_ssl_context(policy: HttpPolicy) -> ssl.SSLContext:
    """System store plus community TLS anchors; survives SSL_CERT_FILE/DIR pointing at nothing."""
    ctx = ssl.create_default_context()  # OpenSSL silently loads nothing for a missing env path
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    paths = ssl.get_default_verify_paths()  # cafile/capath are None when they do not exist
    if ctx.cert_store_stats().get("x509_ca", 0) == 0 and not paths.capath:
        loaded = False
        for cafile, capath in ((paths.openssl_cafile, None), (None, paths.openssl_capath)):
            target = cafile or capath
            if target and os.path.exists(target):
                ctx.load_verify_locations(cafile=cafile, capath=capath)
                loaded = True
        if not loaded:
            try:
                import certifi
                ctx.load_verify_locations(cafile=certifi.where())
            except (ImportError, OSError):
                pass  # the community anchors below may still be enough
    for index, pem in enumerate(policy.tls_anchors_pem or ()):
        try:
            ctx.load_verify_locations(cadata=pem if isinstance(pem, str) else bytes(pem).decode("ascii"))
        except (ssl.SSLError, ValueError, UnicodeDecodeError):
            raise NetworkError("bad_tls_anchor", index=index) from None
    return ctx


class _NoCookies(httpx.Cookies):
    """A cookie store that never takes one: httpx offers it every response, and the stock store
    wraps each in urllib request/response objects (~0.1 ms) for its jar's policy to refuse."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class _Client(httpx.Client):
    """httpx.Client whose ``cookies`` is always empty (see make_client)."""

    def __init__(self, **kwargs) -> None:
        jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))  # refuses any cookie, should httpx
        super().__init__(cookies=jar, **kwargs)                    # ever bypass ``cookies``
        self._never = _NoCookies(jar)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._never

    @cookies.setter
    def cookies(self, cookies) -> None:
        raise TypeError("this client never keeps cookies")


def make_client(policy: HttpPolicy, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The ONLY place an httpx.Client is made. Redirects are handled by ``send`` (same origin only)."""
    transport = transport or policy.transport
    timeout = httpx.Timeout(connect=policy.connect_timeout, read=policy.read_timeout,
                            write=policy.read_timeout, pool=policy.connect_timeout)
    # No cookie is ever kept: a shared client must not carry one server's cookies to another
    # (servers on one host differ only by port, which cookies ignore); UDAP needs none.
    common = dict(timeout=timeout, follow_redirects=False, headers={"User-Agent": policy.user_agent},
                  event_hooks={"response": [_refuse_unusable_location]})
    if transport is not None:
        # trust_env=False: env proxies would build their own SSL context from SSL_CERT_FILE
        return _Client(transport=transport, trust_env=False, **common)
    ctx = policy.ssl_context()
    one_per_exchange = httpx.Limits(max_keepalive_connections=0)  # see ClientPool
    # loopback never goes through an environment proxy
    mounts = {f"all://{host}": httpx.HTTPTransport(verify=ctx, limits=one_per_exchange)
              for host in ("127.0.0.1", "localhost", "[::1]")}
    return _Client(verify=ctx, trust_env=True, mounts=mounts, limits=one_per_exchange, **common)


def _refuse_unusable_location(response: httpx.Response) -> None:
    """httpx pre-builds the next request of every redirect even when not following it, and an IDNA
    error in that Location ("https://xn--/") escapes untyped: refuse such a Location here, typed."""
    if not response.has_redirect_location:
        return
    location = response.headers["location"]
    try:
        url = httpx.URL(location)
        if url.scheme and not url.host:
            url = url.copy_with(host=response.request.url.host)
        _origin(response.request.url.join(url))
    except (httpx.InvalidURL, TypeError, ValueError):  # idna.IDNAError is a ValueError
        raise NetworkError("redirect_refused", url=_safe(response.request.url), location=location[:200],
                           reason="bad_location") from None


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def map_error(exc: BaseException, url: str) -> NetworkError:
    """One typed NetworkError for any httpx / ssl / socket failure."""
    if isinstance(exc, NetworkError):
        return exc
    safe = _safe(url)
    host = httpx.URL(url).host if url else ""
    chain = _causes(exc)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            code = _TLS_CODES.get(getattr(e, "verify_code", None), "tls_failed")
            return NetworkError(code, url=safe, host=host, verify_code=getattr(e, "verify_code", None),
                                reason=str(getattr(e, "verify_message", "") or getattr(e, "reason", "") or "")[:200])
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return NetworkError("tls_failed", url=safe, host=host, reason=str(getattr(e, "reason", None) or e)[:200])
    if isinstance(exc, httpx.TimeoutException):
        phase = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read", httpx.WriteTimeout: "write",
                 httpx.PoolTimeout: "pool"}.get(type(exc), "read")
        return NetworkError("timeout", url=safe, host=host, phase=phase)
    if any(isinstance(e, socket.gaierror) for e in chain) or (
            isinstance(exc, httpx.ConnectError) and any(m in str(exc).lower() for m in _DNS_MARKERS)):
        return NetworkError("dns_failed", url=safe, host=host)
    if isinstance(exc, (httpx.ConnectError, ConnectionError)):
        return NetworkError("connect_failed", url=safe, host=host, reason=str(exc)[:200])
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.CloseError)) or (
            isinstance(exc, httpx.RemoteProtocolError) and str(exc).lower().startswith(_HANG_UP_MARKERS)):
        # a reset over TLS reaches httpx as an EOF: "Server disconnected...", not a ReadError
        return NetworkError("connection_lost", url=safe, host=host, reason=str(exc)[:200])
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
        return NetworkError("protocol_error", url=safe, host=host, reason=str(exc)[:200])
    if isinstance(exc, httpx.DecodingError):
        return NetworkError("bad_content_encoding", url=safe, host=host)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return NetworkError("bad_url", url=safe, reason="unsupported")
    return NetworkError("request_failed", url=safe, host=host, error_type=type(exc).__name__)


def server_clock(headers: Mapping[str, str], local_now: datetime) -> tuple[datetime | None, float | None]:
    """The server's ``Date`` and the skew (server minus local, seconds); None when absent/garbled."""
    value = headers.get("date")
    if not value:
        return None, None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None, None
    if when is None:
        return None, None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when, round((when - local_now).total_seconds(), 3)


def _read_capped(response: httpx.Response, limit: int, deadline: float, url: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise NetworkError("too_large", url=_safe(url), limit=limit, size=int(declared))
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise NetworkError("too_large", url=_safe(url), limit=limit, size=len(body))
        if time.monotonic() > deadline:
            raise NetworkError("timeout", url=_safe(url), phase="total")
    return bytes(body)


def _audit(policy: HttpPolicy, step: str | None, method: str, url: str, req_headers, content, *,
           status=None, resp_headers=None, body=None, started: float, server_date=None, error=None) -> None:
    if policy.audit is not None:
        policy.audit.record(method, url, req_headers, content, status, resp_headers, body,
                            time.monotonic() - started, step, server_date=server_date,
                            error=error.to_dict() if error else None, now=policy.clock())


def send(policy: HttpPolicy, method: str, url: str, *, kind: str = "json", headers: Mapping[str, str] | None = None,
         content: bytes | None = None, step: str | None = None, client: httpx.Client | None = None) -> HttpExchange:
    """One request under the policy, any status returned; redirects only within the origin."""
    limit = LIMITS.get(kind, JSON_LIMIT)
    current = check_url(url, kind=kind, allow_insecure_loopback=policy.allow_insecure_loopback)
    req_headers = {"Accept": ACCEPT.get(kind, "*/*"), **dict(policy.extra_headers), **dict(headers or {})}
    owned = client is None and policy.clients is None
    if client is None:
        client = make_client(policy) if owned else policy.clients.get(policy)
    hops, method = 0, method.upper()
    deadline = Deadline(policy.total_timeout)  # one budget for the whole exchange, redirects included
    try:
        while True:
            started = time.monotonic()
            sent_headers = {"User-Agent": policy.user_agent, **req_headers}
            try:
                with client.stream(method, current, headers=req_headers, content=content,
                                   extensions={"trace": deadline.trace}) as resp:
                    sent_headers = dict(resp.request.headers)
                    body = _read_capped(resp, limit, deadline.at, str(current))
                if deadline.fired:  # a close-delimited body cut short by the watchdog is not complete
                    raise NetworkError("timeout", url=_safe(current), phase="total")
            except (httpx.HTTPError, OSError, NetworkError) as exc:  # ssl.SSLError is an OSError
                error = map_error(exc, str(current))
                if deadline.fired:  # whatever the shutdown looked like to httpx
                    error = NetworkError("timeout", url=_safe(current), host=current.host, phase="total")
                _audit(policy, step, method, str(current), sent_headers, content, started=started, error=error)
                raise error from None
            server_date, skew = server_clock(resp.headers, policy.clock())
            _audit(policy, step, method, str(current), sent_headers, content, status=resp.status_code,
                   resp_headers=resp.headers.multi_items(), body=body, started=started, server_date=server_date)
            location = resp.headers.get("location")
            if resp.status_code not in REDIRECT_STATUSES or not location:
                return HttpExchange(method, str(current), resp.status_code, resp.headers, body,
                                    time.monotonic() - started, server_date, skew)
            current = _follow(current, location, method, resp.status_code, kind, policy)
            hops += 1
            if hops > MAX_REDIRECTS:
                raise NetworkError("too_many_redirects", url=_safe(url), limit=MAX_REDIRECTS)
    finally:
        if owned:
            client.close()
        deadline.close()


def _follow(current: httpx.URL, location: str, method: str, status: int, kind: str,
            policy: HttpPolicy) -> httpx.URL:
    try:
        target = current.join(location)
        origin = _origin(target)  # decodes IDNA: may raise idna.IDNAError, a ValueError
    except (httpx.InvalidURL, TypeError, ValueError):
        raise NetworkError("redirect_refused", url=_safe(current), location=location[:200], reason="bad_location") from None
    if current.scheme == "https" and target.scheme == "http":
        raise NetworkError("redirect_refused", url=_safe(current), location=_safe(target), reason="https_to_http")
    if origin != _origin(current):
        raise NetworkError("redirect_refused", url=_safe(current), location=_safe(target), reason="other_origin")
    if method != "GET" and status not in (307, 308):
        raise NetworkError("redirect_refused", url=_safe(current), location=_safe(target), reason="method_change")
    return check_url(str(target), kind=kind, allow_insecure_loopback=policy.allow_insecure_loopback)


def _finish(exchange: HttpExchange, expect: Sequence[int] | None) -> HttpExchange:
    """``expect`` None: any status, body parsed leniently (the caller reads RFC 6749/7591 errors).
    Otherwise the status must be expected and a 2xx with a body must be a JSON object."""
    if expect is not None and exchange.status not in expect:
        raise NetworkError("http_status", url=_safe(exchange.url), status=exchange.status,
                           content_type=exchange.content_type, excerpt=exchange.excerpt())
    if expect is not None and 200 <= exchange.status < 300 and exchange.status != 204:
        exchange.data = exchange.json_object()
    elif exchange.body:
        try:
            exchange.data = exchange.json_object()
        except NetworkError:
            exchange.data = None
    return exchange


def get_json(policy: HttpPolicy, url: str, *, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None, step: str | None = None, expect: Sequence[int] | None = (200,),
             client: httpx.Client | None = None) -> HttpExchange:
    """GET a JSON object (``exchange.data``); ``params`` are percent-encoded (``:`` and ``/`` too)."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(dict(params), safe='')}"
    return _finish(send(policy, "GET", url, headers=headers, step=step, client=client), expect)


def post_json(policy: HttpPolicy, url: str, body: Any, *, headers: Mapping[str, str] | None = None,
              step: str | None = None, expect: Sequence[int] | None = None, client: httpx.Client | None = None
              ) -> HttpExchange:
    """POST JSON; by default any status comes back (registration interprets 4xx/5xx itself)."""
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    merged = {"Content-Type": "application/json", **dict(headers or {})}
    return _finish(send(policy, "POST", url, headers=merged, content=content, step=step, client=client), expect)


def post_form(policy: HttpPolicy, url: str, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None,
              step: str | None = None, expect: Sequence[int] | None = None, client: httpx.Client | None = None
              ) -> HttpExchange:
    """POST a form (token requests); by default any status comes back, as for post_json."""
    content = urlencode(dict(form)).encode("ascii")
    merged = {"Content-Type": "application/x-www-form-urlencoded", **dict(headers or {})}
    return _finish(send(policy, "POST", url, headers=merged, content=content, step=step, client=client), expect)


def fetch_bytes(policy: HttpPolicy, url: str, kind: str = "crl", *, step: str | None = None) -> bytes:
    """A CRL or an AIA certificate (http allowed: they are signed), capped at 5 MiB."""
    if kind not in ("crl", "aia"):
        raise NetworkError("bad_url", url=_safe(url), reason="unknown_kind", kind=kind)
    exchange = send(policy, "GET", url, kind=kind, step=step)
    if exchange.status != 200:
        raise NetworkError("http_status", url=_safe(exchange.url), status=exchange.status,
                           content_type=exchange.content_type, excerpt=exchange.excerpt())
    return exchange.body


def fetcher(policy: HttpPolicy, step: str | None = None) -> Callable[[str, str], bytes]:
    """The Fetcher trust.validate_chain takes: fetch(url, kind) -> bytes, raising NetworkError."""
    def fetch(url: str, kind: str = "crl") -> bytes:
        return fetch_bytes(policy, url, kind, step=step)
    return fetch
