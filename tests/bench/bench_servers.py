"""Registering with 20 practice servers at once vs with one (onboarding.register with several
targets, each discovered first, as the wizard's "register with more servers" does). Goal: within 2x.

The 20 practice servers run in a child process on one data folder (they share the practice CA:
app/sandbox/shared_ca.py), so their CPU does not compete with the client for this process's GIL
(and at the lowest priority, so it yields the machine's cores to the client, as remote servers would);
the child issues the client's key + certificate as a PKCS#12. Two settings: plain loopback
(the client's CPU dominates), and a simulated network (every server answer waits 100 ms, the
server thread sleeping), which is what "at once" is for; the latter for several pool sizes.
Variants alternate; medians of one run.
Run: python tests/bench/bench_servers.py   (BENCH_QUICK=1 for a smoke run)
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import ROOT, goal, header, interleave, med, reps, row, spread  # noqa: E402

from app.core.onboarding import REGISTER_POOL  # noqa: E402

COUNT = 20
SERVER_NICENESS = 19
COMMUNITY = "practice-many"
CLIENT_URI = "https://bench.example.org/udap"


# --- the child: 20 servers ------------------------------------------------------------------------

def serve(count: int) -> None:
    """Start ``count`` servers, print one JSON line, obey "delay <s>" lines until stdin closes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    from app.core.secrets import MemorySecretStore
    from app.sandbox import server as practice_server
    from app.sandbox.server import PracticeServer

    delay = {"seconds": 0.0}
    dispatch = practice_server._Handler._dispatch

    def delayed(self, method, body):
        if delay["seconds"]:
            time.sleep(delay["seconds"])
        return dispatch(self, method, body)

    practice_server._Handler._dispatch = delayed
    home = Path(tempfile.mkdtemp(prefix="udap-bench-servers-"))
    started = time.perf_counter()
    store = MemorySecretStore()
    servers = [PracticeServer(home, store).start() for _ in range(count)]
    seconds = time.perf_counter() - started
    ca = servers[0].ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    leaf = ca.issue_leaf(key.public_key(), subject=x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "Bench client"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench Clinic")]), san_uris=[CLIENT_URI])
    password = os.urandom(12).hex()
    p12 = pkcs12.serialize_key_and_certificates(b"bench", key, leaf, [ca.intermediate_cert],
                                                serialization.BestAvailableEncryption(password.encode()))
    info = servers[0].describe()
    print(json.dumps({"info": info, "servers": [s.base_url for s in servers], "p12": base64.b64encode(p12).decode(),
                      "password": password, "startup_seconds": seconds}), flush=True)
    try:
        for line in sys.stdin:
            if line.startswith("delay "):
                delay["seconds"] = float(line.split()[1])
                print("ok", flush=True)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(home, ignore_errors=True)


# --- the parent: one client ---------------------------------------------------------------------------

def client(home: Path, started: dict):
    from app.core import onboarding
    from app.core.community import TrustCommunity
    from app.core.secrets import MemorySecretStore
    from app.core.session import Session

    info = started["info"]
    session = Session(home, secrets=MemorySecretStore())
    session.communities.add(TrustCommunity(
        name=COMMUNITY, uri=info["community_uri"], anchors=[info["anchor_pem"]], tls_anchors=[info["tls_anchor_pem"]],
        servers=started["servers"], revocation="hard"), replace=True)
    profile, _ = onboarding.create_profile(session, "many", org_name="Bench Clinic", client_name="Bench client",
                                           client_uri=CLIENT_URI, contact="it@bench.example.org", community=COMMUNITY)
    check = onboarding.import_pkcs12(session, profile, base64.b64decode(started["p12"]), started["password"])
    assert check.saved, check.to_dict()
    return session, profile


def register(session, profile, targets: list[str], workers: int | None = None):
    from app.core import onboarding
    from app.core.evidence import AuditTrail

    def run():
        session.discovered.clear()  # never registered there before: every server is discovered first
        session.audit = AuditTrail()  # a fresh session's trail: it grows with every exchange
        kwargs = {} if workers is None else {"max_workers": workers}
        rows = onboarding.register(session, profile, targets, COMMUNITY, **kwargs)
        bad = [r.to_dict() for r in rows if not r.ok]
        assert not bad, bad[:1]
    return run


def compare(label: str, session, profile, urls: list[str], rounds: int, workers: int | None = None) -> float:
    one = [urls[-1]]  # like 19 of the 20, it keeps its registrations in memory (no registrations.json fsync)
    s = interleave({"one": register(session, profile, one, workers),
                    "all": register(session, profile, urls, workers)}, rounds)
    ratio = med(s["all"]) / med(s["one"])
    row(f"{label}: 1 server", spread(s["one"]))
    row(f"{label}: {len(urls)} servers at once", spread(s["all"]))
    row(f"{label}: ratio {len(urls)}/1", f"{ratio:.2f}x  (one after another: ~{len(urls)}x)")
    return ratio


def minimal_client(started: dict):
    """bench_journey's hand-written httpx + joserfc client (discover + register, no CRLs, no audit,
    no saves), 20 threads for 20 servers: how far *any* Python client gets on this machine."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    from bench_journey import Minimal

    key, leaf, extra = pkcs12.load_key_and_certificates(base64.b64decode(started["p12"]),
                                                        started["password"].encode())
    info = started["info"]
    anchor = x509.load_pem_x509_certificate(info["anchor_pem"].encode())
    minimal = Minimal(key, [leaf, *extra], anchor, info["tls_anchor_pem"], info["community_uri"])

    def one(base: str) -> None:
        with httpx.Client(verify=minimal.ctx, timeout=30, trust_env=False) as http:
            minimal.register(http, minimal.discover(http, base))

    def run(targets: list[str]):
        def go():
            if len(targets) == 1:
                one(targets[0])
                return
            with ThreadPoolExecutor(max_workers=len(targets)) as pool:
                list(pool.map(one, targets))
        return go
    return run


def child_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of the server child so far; 0 where /proc is absent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stall_while(fn) -> float:
    """Longest gap (ms) of a 5 ms sleep loop on this thread while ``fn`` runs on another one: how
    long a GUI thread would wait for the GIL (the wizard runs register in a TaskRunner worker)."""
    import threading

    done = threading.Event()
    worker = threading.Thread(target=lambda: (fn(), done.set()))
    last, worst = time.perf_counter(), 0.0
    worker.start()
    while not done.is_set():
        time.sleep(0.005)
        now = time.perf_counter()
        worst, last = max(worst, now - last), now
    worker.join()
    return worst * 1e3


def main() -> None:
    header(f"register with {COUNT} practice servers at once vs one (each discovered first)")
    # The servers stand in for 20 other machines: niced, so on a small machine their CPU (signing
    # metadata, checking statements, TLS) yields to the client's instead of inflating its wall
    # time and the main-thread stall. Both variants run against the same niced child.
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(COUNT)], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             preexec_fn=(lambda: os.nice(SERVER_NICENESS)) if hasattr(os, "nice") else None)
    home = Path(tempfile.mkdtemp(prefix="udap-bench-client-"))
    session = None
    try:
        started = json.loads(child.stdout.readline())
        row(f"start {COUNT} practice servers (child process)", f"{started['startup_seconds']:.2f} s")
        session, profile = client(home, started)
        urls = started["servers"]

        def set_delay(seconds: float) -> None:
            child.stdin.write(f"delay {seconds}\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "ok"

        register(session, profile, urls)()  # warm-up: TLS context, CRL cache, first registrations
        rounds = reps(7, 2)
        cpu0 = time.process_time()
        loopback = compare("loopback, default pool", session, profile, urls, rounds)
        # What loopback can give on this machine at all: the hand-written client, and the CPU floor.
        run_minimal = minimal_client(started)
        run_minimal([urls[-1]])()
        m = interleave({"one": run_minimal([urls[-1]]), "all": run_minimal(urls)}, rounds)
        minimal_ratio = med(m["all"]) / med(m["one"])
        row("loopback, hand-written client: 1 server", spread(m["one"]))
        row(f"loopback, hand-written client: {COUNT} at once", spread(m["all"]))
        row(f"loopback, hand-written client: ratio {COUNT}/1", f"{minimal_ratio:.2f}x")
        cores = os.cpu_count() or 1
        c_client, c_servers, wall = time.process_time(), child_cpu(child.pid), time.perf_counter()
        register(session, profile, urls)()
        c_client, c_servers = time.process_time() - c_client, child_cpu(child.pid) - c_servers
        wall = time.perf_counter() - wall
        c1, s1, w1 = time.process_time(), child_cpu(child.pid), time.perf_counter()
        for _ in range(5):
            register(session, profile, [urls[-1]])()
        one_wall = (time.perf_counter() - w1) / 5
        one_cpu = (time.process_time() - c1 + child_cpu(child.pid) - s1) / 5
        floor = (c_client + c_servers) / cores / one_wall
        row(f"loopback, CPU of {COUNT} at once", f"client {c_client * 1e3:.0f} ms + servers {c_servers * 1e3:.0f} ms "
            f"on {cores} cores, wall {wall * 1e3:.0f} ms")
        row("loopback, 1 server", f"wall {one_wall * 1e3:.1f} ms, client + server CPU {one_cpu * 1e3:.1f} ms")
        row(f"loopback floor for {COUNT}/1 on {cores} cores", f"{floor:.1f}x  (all the CPU spread over every core "
            f"without a gap: no client can do better here)")
        set_delay(0.1)
        row("simulated network", "every server answer waits 100 ms")
        delayed = {}
        for workers in (4, 10, None):
            delayed[workers] = compare(f"100 ms network, pool {workers or 'default'}", session, profile, urls,
                                       rounds, workers)
        for workers in (4, 10, None):
            gaps = [stall_while(register(session, profile, urls, workers)) for _ in range(reps(3, 1))]
            row(f"main-thread stall, 20 at once, pool {workers or 'default'}", f"{max(gaps):.1f} ms (worst of "
                f"{len(gaps)}; a 5 ms sleep loop standing in for the GUI thread)")
        set_delay(0.0)
        one_cpu = []
        for _ in range(reps(10, 3)):
            c = time.process_time()
            register(session, profile, [urls[-1]])()
            one_cpu.append(time.process_time() - c)
        row("client CPU to discover + register with 1 server", spread(one_cpu))
        row("whole run client CPU", f"{time.process_time() - cpu0:.1f} s")
        goal(f"{COUNT} servers vs 1, loopback (CPU-bound; floor here {floor:.1f}x, hand-written client "
             f"{minimal_ratio:.1f}x)", loopback, 2.0)
        goal(f"{COUNT} servers vs 1, 100 ms network, default pool (up to {REGISTER_POOL} at once)", delayed[None], 2.0)
    finally:
        if session is not None:
            session.close()
        child.stdin.close()
        child.wait(30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve(int(sys.argv[sys.argv.index("--serve") + 1]))
    else:
        main()
