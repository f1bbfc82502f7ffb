"""The client side of the journey (discover, register, token, FHIR read) through app.core vs a
minimal hand-written httpx + joserfc sequence, against the same in-process practice server.
Goal: within 1.3x.

"Client side" = CPU time of this process minus the CPU time of the server's threads (each
request thread and both accept loops are clocked), so the server's signing and checking, which
both variants pay alike, is left out. Wall time is printed too. The variants alternate, one
journey each, on one server; the key is the same RSA-3072 key (the wizard's default).
Run: python tests/bench/bench_journey.py [--profile]   (BENCH_QUICK=1 for a smoke run)
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import goal, header, med, ratio_ci, reps, row, spread  # noqa: E402

import httpx  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from joserfc import jws  # noqa: E402
from joserfc.jwk import ECKey, RSAKey  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402

from app.core import onboarding  # noqa: E402
from app.core.evidence import AuditTrail  # noqa: E402
from app.core.secrets import MemorySecretStore  # noqa: E402
from app.core.session import Session  # noqa: E402
from app.sandbox import server as practice_server  # noqa: E402

CLIENT_URI = "https://bench.example.org/udap"
SCOPE = "system/Patient.read"
B2B = {"version": "1", "organization_id": "https://bench.example.org", "organization_name": "Bench Clinic",
       "purpose_of_use": ["urn:oid:2.16.840.1.113883.5.8#TREAT"]}

# --- server CPU accounting ------------------------------------------------------------------------

_server_cpu = 0.0
_server_lock = threading.Lock()
_original = practice_server._Server.process_request_thread


def _clocked(self, request, client_address):
    start = time.thread_time()
    try:
        _original(self, request, client_address)
    finally:
        spent = time.thread_time() - start
        global _server_cpu
        with _server_lock:
            _server_cpu += spent


practice_server._Server.process_request_thread = _clocked  # bench only: every request thread is timed


def server_cpu() -> float:
    """CPU of finished request threads plus the accept loops (practice-* threads) so far."""
    loops = 0.0
    for t in threading.enumerate():
        if t.name.startswith("practice-") and t.ident is not None:
            try:
                loops += time.clock_gettime(time.pthread_getcpuclockid(t.ident))
            except OSError:
                pass
    return _server_cpu + loops


def clocked(fn) -> tuple[float, float]:
    """(client CPU seconds, wall seconds) of one call."""
    s0, c0, w0 = server_cpu(), time.process_time(), time.perf_counter()
    fn()
    w1, c1 = time.perf_counter(), time.process_time()
    time.sleep(0.002)  # let the last request thread finish its bookkeeping
    return (c1 - c0) - (server_cpu() - s0), w1 - w0


# --- the two clients ------------------------------------------------------------------------------

def ours(session: Session, profile, server: str) -> None:
    session.audit = AuditTrail()  # one journey per session, as in the wizard: the trail grows with history
    onboarding.discover(session, server, "practice").raise_for_failure()
    row_ = onboarding.register(session, profile, [server], "practice")[0]
    assert row_.ok, row_.to_dict()
    test = onboarding.request_token(session, profile, server, fhir_path="Patient")
    assert test.fhir.ok


class Minimal:
    """What a developer would write by hand: httpx + joserfc, signature and chain checked, no CRLs."""

    REGISTRY = JWSRegistry(algorithms=["RS256"])
    REGISTRY.max_header_length = 64 * 1024  # the x5c header is ~3 KB; joserfc's default cap is 512 bytes

    def __init__(self, key, chain, anchor, tls_anchor_pem: str, community: str) -> None:
        self.jwk = RSAKey.import_key(key) if hasattr(key, "private_numbers") and hasattr(key, "key_size") \
            else ECKey.import_key(key)
        self.x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]
        self.anchor, self.community = anchor, community
        self.ctx = ssl.create_default_context(cadata=tls_anchor_pem)  # made once, as our session does

    def sign(self, claims: dict) -> str:
        return jws.serialize_compact({"alg": "RS256", "x5c": self.x5c}, json.dumps(claims), self.jwk,
                                     algorithms=["RS256"], registry=self.REGISTRY)

    def __call__(self, base: str) -> None:
        with httpx.Client(verify=self.ctx, timeout=10, trust_env=False) as http:
            meta = self.discover(http, base)
            client_id = self.register(http, meta)
            access = self.token(http, meta, client_id)
            self.read(http, base, access)

    def discover(self, http: httpx.Client, base: str) -> dict:
        r = http.get(f"{base}/.well-known/udap", params={"community": self.community})
        r.raise_for_status()
        token = r.json()["signed_metadata"]
        head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        certs = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in head["x5c"]]
        signed = jws.deserialize_compact(token, RSAKey.import_key(certs[0].public_key()), algorithms=["RS256"],
                                         registry=self.REGISTRY)
        for child, parent in zip(certs, certs[1:] + [self.anchor]):
            child.verify_directly_issued_by(parent)
        meta = json.loads(signed.payload)
        assert meta["iss"] == base and meta["exp"] > time.time()
        return meta

    def register(self, http: httpx.Client, meta: dict) -> str:
        now = int(time.time())
        statement = {"iss": CLIENT_URI, "sub": CLIENT_URI, "aud": meta["registration_endpoint"], "iat": now,
                     "exp": now + 300, "jti": base64.urlsafe_b64encode(_random()).decode(),
                     "client_name": "Bench client", "contacts": ["mailto:it@bench.example.org"],
                     "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                     "scope": SCOPE}
        r = http.post(meta["registration_endpoint"], json={"software_statement": self.sign(statement), "udap": "1"})
        assert r.status_code in (200, 201), r.text
        return r.json()["client_id"]

    def token(self, http: httpx.Client, meta: dict, client_id: str) -> str:
        now = int(time.time())
        assertion = {"iss": client_id, "sub": client_id, "aud": meta["token_endpoint"], "iat": now,
                     "exp": now + 300, "jti": base64.urlsafe_b64encode(_random()).decode(),
                     "extensions": {"hl7-b2b": B2B}}
        r = http.post(meta["token_endpoint"], data={
            "grant_type": "client_credentials", "scope": SCOPE, "udap": "1", "client_assertion": self.sign(assertion),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def read(self, http: httpx.Client, base: str, access: str) -> None:
        r = http.get(f"{base}/Patient", headers={"Authorization": f"Bearer {access}"})
        assert r.status_code == 200 and r.json()["resourceType"] == "Bundle"


def _random() -> bytes:
    import secrets
    return secrets.token_bytes(32)


# --- the run --------------------------------------------------------------------------------------

def setup(home: Path):
    session = Session(home, secrets=MemorySecretStore())
    profile, _ = onboarding.create_profile(session, "bench", org_name="Bench Clinic", client_name="Bench client",
                                           client_uri=CLIENT_URI, contact="it@bench.example.org")
    onboarding.generate_key(session, profile, "rsa-3072")
    server = session.practice.start()["base_url"]
    assert onboarding.issue_practice_certificate(session, profile).saved
    key = onboarding.load_key(session, profile)
    chain = onboarding.profile_chain(profile)
    practice = session.practice.server
    minimal = Minimal(key, chain, practice.ca.root_cert, practice.tls_anchor_pem, practice.community_uri)
    return session, profile, server, minimal


def attribute(session, profile, server, n: int) -> None:
    """Client CPU per journey by feature: the functions below are wrapped with thread_time clocks
    (main thread only; onboarding.register's pool is made synchronous for this), nested ones shown
    indented under their caller. Then cProfile's top entries of the same journeys."""
    import collections
    import concurrent.futures
    import cProfile
    import functools
    import pstats

    from app.core import community, discovery, http, jose, profile as profile_mod, registration, token

    spent: collections.Counter = collections.Counter()
    main_thread = threading.main_thread()

    def clock(owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if threading.current_thread() is not main_thread:  # the in-process server's own calls
                return original(*args, **kwargs)
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - start
        setattr(owner, name, timed)

    targets = [  # (owner, function, label); indented labels are part of the line above them
        (http, "send", "4 HTTPS requests through core/http.py"),
        (http, "make_client", "  of which: a new httpx.Client per request"),
        (http, "_audit", "  of which: audit trail record (redaction)"),
        (discovery, "_check_signed", "signed_metadata checks (D-V1..D-V8)"),
        (discovery, "validate_chain", "  of which: chain + CRL validation"),
        (onboarding, "build_statement", "software statement: claims, lint, sign"),
        (jose, "sign", "JWS signing, RSA-3072 (statement + assertion)"),
        (registration, "interpret", "registration answer interpretation"),
        (token, "interpret_token", "token answer interpretation"),
        (profile_mod.ProfileStore, "save", "profile saves (atomic write, fsync, .prev)"),
        (community.CommunityCatalog, "get", "community catalog reads (file re-read)"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    pool = concurrent.futures.ThreadPoolExecutor

    class InlinePool:
        def __init__(self, *args, **kwargs) -> None: ...
        def __enter__(self): return self
        def __exit__(self, *exc) -> None: ...
        def map(self, fn, items): return [fn(i) for i in items]

    try:
        concurrent.futures.ThreadPoolExecutor = InlinePool
        for owner, name, label in targets:
            clock(owner, name, label)
        total = 0.0
        for _ in range(n):
            start = time.thread_time()
            ours(session, profile, server)
            total += time.thread_time() - start
        header(f"where our client CPU goes, per journey (mean of {n}, functions clocked in the main thread)")
        row("whole journey (main thread)", f"{total / n * 1e3:7.2f} ms")
        for _, _, label in targets:
            row(label, f"{spent[label] / n * 1e3:7.2f} ms")
        prof = cProfile.Profile(time.thread_time)
        prof.enable()
        for _ in range(n):
            ours(session, profile, server)
        prof.disable()
        header(f"cProfile (thread CPU) of {n} journeys, top 25 by own time")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    finally:
        concurrent.futures.ThreadPoolExecutor = pool
        for owner, name, original in originals:
            setattr(owner, name, original)


def main() -> None:
    header("client side of the journey: app.core vs hand-written httpx + joserfc (same practice server)")
    home = Path(tempfile.mkdtemp(prefix="udap-bench-journey-"))
    session, profile, server, minimal = setup(home)
    try:
        variants = {"ours": lambda: ours(session, profile, server), "minimal": lambda: minimal(server)}
        for fn in variants.values():  # warm-up: imports, CRL cache, TLS context, first registration
            fn()
        rounds = reps(30, 6)
        cpu = {n: [] for n in variants}
        wall = {n: [] for n in variants}
        names = list(variants)
        for i in range(rounds):
            for name in (names if i % 2 == 0 else names[::-1]):
                c, w = clocked(variants[name])
                cpu[name].append(c)
                wall[name].append(w)
        http = httpx.Client(verify=minimal.ctx, timeout=10, trust_env=False)
        meta = minimal.discover(http, server)
        client_id = minimal.register(http, meta)
        access = minimal.token(http, meta, client_id)
        steps = {"ours: discover": lambda: onboarding.discover(session, server, "practice"),
                 "minimal: discover": lambda: minimal.discover(http, server),
                 "ours: register": lambda: onboarding.register(session, profile, [server], "practice"),
                 "minimal: register": lambda: minimal.register(http, meta),
                 "ours: token + FHIR read": lambda: onboarding.request_token(session, profile, server,
                                                                            fhir_path="Patient"),
                 "minimal: token + FHIR read": lambda: minimal.read(http, server, minimal.token(http, meta, client_id))}
        per_step = {n: [] for n in steps}
        for _ in range(reps(15, 3)):
            session.audit = AuditTrail()
            for name, fn in steps.items():
                per_step[name].append(clocked(fn)[0])
        http.close()
        for name in names:
            row(f"{name}: client CPU per journey", spread(cpu[name]))
            row(f"{name}: wall per journey", spread(wall[name]))
        for name, values in per_step.items():
            row(f"client CPU, {name}", spread(values))
        cpu_ratio = med(cpu["ours"]) / med(cpu["minimal"])
        lo, hi = ratio_ci(cpu["ours"], cpu["minimal"])
        row("ratio ours/minimal, client CPU", f"{cpu_ratio:.3f}x  (95% bootstrap {lo:.3f}-{hi:.3f}, {rounds} journeys each)")
        row("ratio ours/minimal, wall", f"{med(wall['ours']) / med(wall['minimal']):.3f}x  (includes the server)")
        row("requests per journey", "4 each (our register and token reuse the discovery; CRLs cached)")
        goal("journey client side (CPU)", cpu_ratio, 1.3)
        if "--profile" in sys.argv:
            attribute(session, profile, server, reps(20, 3))
    finally:
        session.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
