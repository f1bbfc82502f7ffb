"""The whole journey headless, against an in-process practice community, on a throwaway data folder.

Used by ``udap-onboard demo`` and by the end-to-end tests and benchmarks. Secrets live in a
memory store for the run only: the demo never touches the OS keyring or the user's data.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from app.core import onboarding
from app.core.secrets import MemorySecretStore
from app.core.session import Session

CLIENT_URI = "https://demo.example.org/udap/b2b"


def run_demo(on_step: Callable[[dict[str, Any]], None] | None = None, *, home: str | Path | None = None,
             secrets=None, key_type: str = "rsa-3072", keep: bool = False,
             explain: Callable[[BaseException], str] | None = None,
             evidence: str | Path | None = None) -> list[dict[str, Any]]:
    """Run every step in order; stop at the first failure. One dict per step: name, ok, seconds, summary.

    ``explain`` turns a failure into a sentence (the CLI passes the feedback table's wording).
    ``evidence``: also write the evidence zip there (a last step), e.g. to inspect what a run leaves.
    """
    folder = Path(home) if home else Path(tempfile.mkdtemp(prefix="udap-onboard-demo-"))
    session = Session(folder, secrets=secrets or MemorySecretStore())
    steps: list[dict[str, Any]] = []
    ctx: dict[str, Any] = {}

    def step(name: str, fn: Callable[[], str]) -> bool:
        started = time.perf_counter()
        try:
            summary, ok = fn(), True
        except Exception as exc:  # the demo reports, it does not crash
            summary, ok = (explain(exc) if explain else repr(exc)), False
        entry = {"name": name, "ok": ok, "seconds": round(time.perf_counter() - started, 3), "summary": summary}
        steps.append(entry)
        if on_step:
            on_step(entry)
        return ok

    def profile() -> str:
        ctx["p"], _ = onboarding.create_profile(session, "demo", org_name="Demo Family Practice",
                                                client_name="Demo B2B Client", client_uri=CLIENT_URI,
                                                contact="it@demo.example.org")
        return f"profile 'demo' for {CLIENT_URI}"

    def key() -> str:
        onboarding.generate_key(session, ctx["p"], key_type)
        return f"{key_type} key, encrypted (PKCS#12, AES-256, 600,000 PBKDF2 rounds)"

    def csr() -> str:
        pem = onboarding.create_csr(session, ctx["p"])
        return f"CSR with SAN URI {CLIENT_URI} ({len(pem)} bytes PEM)"

    def start() -> str:
        info = session.practice.start()
        ctx["server"] = info["base_url"]
        return f"practice community at {info['base_url']}"

    def issue() -> str:
        check = onboarding.issue_practice_certificate(session, ctx["p"])
        if not check.saved:
            raise RuntimeError("certificate refused: " + ", ".join(p.code for p in check.blocking))
        return f"certificate issued and imported ({check.summaries[0]['days_left']} days left)"

    def check() -> str:
        result = onboarding.check_certificate(session, ctx["p"], "practice")
        if not result.ok:
            raise RuntimeError("check failed: " + ", ".join(p.code for p in result.problems))
        return f"key match, client URI, validity, chain and revocation: {len(result.trust['rows'])} certificates ok"

    def discover() -> str:
        report = onboarding.discover(session, ctx["server"], "practice")
        report.raise_for_failure()
        return f"{sum(r.status == 'pass' for r in report.rows)} checks passed"

    def register(kind: str) -> Callable[[], str]:
        def run() -> str:
            row = onboarding.register(session, ctx["p"], [ctx["server"]], "practice", cancel=kind == "cancelled")[0]
            if row.outcome != kind:
                raise _row_error(row)
            return f"{row.outcome}: client_id {row.client_id}"
        return run

    def token() -> str:
        test = onboarding.request_token(session, ctx["p"], ctx["server"], fhir_path="metadata")
        ctx["token"] = test
        return f"{test.token.token_type} token ({test.token.redacted_token}), expires in {test.token.expires_in} s"

    def fhir() -> str:
        test = onboarding.request_token(session, ctx["p"], ctx["server"], fhir_path="Patient")
        if not test.fhir.ok:
            raise RuntimeError(f"FHIR read answered HTTP {test.fhir.status}")
        return f"GET {test.fhir.url}: HTTP {test.fhir.status} {test.fhir.resource_type}"

    def export() -> str:
        path = onboarding.export_evidence(session, ctx["p"], evidence)
        return f"evidence bundle {path.name} ({path.stat().st_size} bytes)"

    try:
        for name, fn in (("create profile", profile), ("generate key", key), ("create CSR", csr),
                         ("start practice community", start), ("issue and import certificate", issue),
                         ("check certificate", check), ("discover", discover), ("register", register("registered")),
                         ("modify registration", register("modified")), ("token and FHIR metadata", token),
                         ("FHIR read", fhir), ("cancel registration", register("cancelled")),
                         *([("export evidence", export)] if evidence else [])):
            if not step(name, fn):
                break
    finally:
        session.close()
        if not keep and not home:
            shutil.rmtree(folder, ignore_errors=True)
    return steps


def _row_error(row) -> Exception:
    from app.core.errors import RegistrationError, UdapOnboardError

    expl = row.explanation or {}
    err = UdapOnboardError(expl.get("code", row.outcome), **expl.get("fields", {}))
    err.domain = expl.get("domain", "registration")
    return err if expl else RegistrationError("unexpected_outcome", outcome=row.outcome)
