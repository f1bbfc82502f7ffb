"""CLI commands that talk to servers: discover, statement, register, token, export, sandbox, demo."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any


def add_commands(sub, cmd) -> None:
    c = cmd(sub, "discover", "fetch and validate a server's UDAP metadata", cmd_discover)
    c.add_argument("--community", required=True)
    c.add_argument("--server", required=True, help="FHIR base URL")

    c = cmd(sub, "statement", "build, lint and show the signed software statement", cmd_statement, json_flag=False)
    c.add_argument("--profile", required=True)
    c.add_argument("--community", required=True)
    c.add_argument("--server", required=True)
    c.add_argument("--grant", choices=("client_credentials", "authorization_code"), default="client_credentials")
    c.add_argument("--scope", help="space-separated scopes (default: from the server's scopes_supported)")
    c.add_argument("--redirect-uri", action="append", default=[], help="authorization_code only (repeatable)")
    c.add_argument("--logo-uri", help="https URL of a PNG/JPG/GIF logo (required for authorization_code)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print one JSON object (header, claims, lint)")
    g.add_argument("--raw", action="store_true", help="print only the compact JWS")

    c = cmd(sub, "register", "register (or modify, or cancel) with one or more servers", cmd_register)
    c.add_argument("--profile", required=True)
    c.add_argument("--community", required=True)
    c.add_argument("--server", required=True, action="append", help="repeat for several servers (run concurrently)")
    c.add_argument("--cancel", action="store_true", help="cancel the registration (grant_types: [])")
    c.add_argument("--scope")

    c = cmd(sub, "token", "get a test access token and make one FHIR call", cmd_token)
    c.add_argument("--profile", required=True)
    c.add_argument("--server", required=True)
    c.add_argument("--fhir", default="metadata", help="FHIR path to GET with the token (default: metadata)")
    c.add_argument("--scope")

    c = cmd(sub, "export", "write an evidence zip (HTML report + JSON, nothing secret)", cmd_export, json_flag=False)
    c.add_argument("--profile", required=True)
    c.add_argument("--out", required=True)

    sb = sub.add_parser("sandbox", help="the practice trust community on this computer").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    c = cmd(sb, "serve", "run the practice community until Ctrl-C", cmd_sandbox_serve)
    c.add_argument("--port", type=int)
    c.add_argument("--mode", action="append", default=[],
                   help="aia-only, narrow-scopes, bare-500, rsa-only, strict-clock, echo-all (repeatable)")
    c = cmd(sb, "issue", "sign the profile's CSR with the practice CA and import the certificate", cmd_sandbox_issue)
    c.add_argument("--profile", required=True)
    c = cmd(sb, "gallery", "write the gallery of failing certificates (PKCS#12) for training", cmd_sandbox_gallery)
    c.add_argument("--out", required=True)
    c.add_argument("--client-uri", default="https://practice.example.org/udap/client")

    c = cmd(sub, "demo", "run the whole journey headless against an in-process practice community", cmd_demo)
    c.add_argument("--keep-home", metavar="DIR",
                   help="run in DIR (new or empty) and keep it, with an evidence zip, for inspection")


def _print_report(report) -> None:
    from app.ui.feedback_table import DISCOVERY_REASONS

    for row in report.rows:
        mark = {"pass": "ok     ", "warning": "warning", "fail": "FAILED "}[row.status]
        reason = "" if row.reason == "ok" else f" ({DISCOVERY_REASONS.get(row.reason, row.reason)})"
        print(f"{mark} {row.id:7} {row.title}{reason}")
    if report.ok:
        print(f"Result: {report.base_url} is a valid UDAP server for this community.")
    else:
        from app.ui.feedback import describe

        e = describe(report.error) if report.error else None
        print("Result: do not register with this server." + (f" {e.summary} {e.next_step}" if e else ""))


def cmd_discover(args, s, out) -> None:
    from app.core import onboarding
    from app.cli import Failure

    report = onboarding.discover(s, args.server, args.community)
    out.result({"ok": report.ok, "checks": [r.to_dict() for r in report.rows], "report": report.to_dict()},
               lambda: _print_report(report))
    if not report.ok:
        raise Failure()


def _metadata(s, server: str, community: str):
    from app.core import onboarding

    return onboarding.discover(s, server, community).raise_for_failure()


def cmd_statement(args, s, out) -> None:
    from app.core import onboarding, statement
    from app.core.errors import StatementError
    from app.cli import Failure

    profile = s.profiles.load(args.profile)
    meta = _metadata(s, args.server, args.community)
    req = onboarding.StatementRequest(grant=args.grant, scope=args.scope, redirect_uris=args.redirect_uri,
                                      logo_uri=args.logo_uri)
    try:
        signed = onboarding.build_statement(s, profile, meta, req)
    except StatementError as exc:
        if exc.code != "lint_failed":
            raise
        findings = exc.fields.get("findings", [])
        if args.json:
            print(json.dumps({"ok": False, "lint": findings}))
        else:
            _print_findings(findings)
        raise Failure() from None
    if args.raw:
        print(signed.token)
        return
    view = statement.decoded_view(signed.token)
    lint = [f.to_dict() for f in signed.findings]
    if args.json:
        print(json.dumps({"ok": True, "header": view["header"], "claims": view["claims"], "lint": lint,
                          "alg": signed.alg}))
        return
    header = dict(view["header"])
    header["x5c"] = [f"<certificate {i}: {len(v)} base64 characters>" for i, v in enumerate(header.get("x5c", []))]
    print("Header:\n" + json.dumps(header, indent=2))
    print("Claims:\n" + json.dumps(view["claims"], indent=2))
    _print_findings(lint)


def _print_findings(findings) -> None:
    from app.ui.feedback import _fill
    from app.ui.feedback_table import LINT_FINDINGS

    for f in findings:
        what, todo = LINT_FINDINGS.get(f["code"], (f["code"], ""))
        print(f"{'ERROR' if f['severity'] == 'error' else 'warning'}: {f['field']}: "
              f"{_fill(what, f.get('detail') or {})} {_fill(todo, f.get('detail') or {})}".rstrip())
    if not findings:
        print("Lint: no problems found.")


def _explain(expl: dict | None) -> str:
    if not expl:
        return ""
    from app.core.errors import UdapOnboardError
    from app.ui.feedback import describe

    err = UdapOnboardError(expl.get("code", "error"), **expl.get("fields", {}))
    err.domain = expl.get("domain", "general")
    e = describe(err)
    return f"{e.summary} {e.next_step}"


def cmd_register(args, s, out) -> None:
    from app.core import onboarding
    from app.cli import Failure

    profile = s.profiles.load(args.profile)
    req = onboarding.StatementRequest(scope=args.scope)
    rows = onboarding.register(s, profile, args.server, args.community, cancel=args.cancel, request=req)
    results = [r.to_dict() for r in rows]
    ok = all(r.ok for r in rows)

    def text():
        for r in rows:
            if r.outcome == "cancelled":
                print(f"cancelled  {r.server}  client_id={r.client_id} is no longer registered")
            elif r.ok:
                granted = r.granted.get("scope", "")
                print(f"{r.outcome:10} {r.server}  client_id={r.client_id}  granted scope: {granted}")
                for d in r.diff:
                    if d.get("changed") or d.get("status") not in (None, "same"):
                        print(f"           {d.get('field')}: requested {d.get('requested')!r} -> granted {d.get('granted')!r}")
            else:
                print(f"{r.outcome:10} {r.server}  {_explain(r.explanation)}")
    out.result({"ok": ok, "results": results}, text)
    if not ok:
        raise Failure()


def cmd_token(args, s, out) -> None:
    from app.core import onboarding
    from app.cli import Failure

    profile = s.profiles.load(args.profile)
    test = onboarding.request_token(s, profile, args.server, args.fhir, scope=args.scope)

    def text():
        t = test.token
        print(f"token: {t.token_type} {t.redacted_token}, expires in {t.expires_in} s, scope: {t.granted_scope or t.requested_scope}")
        if test.fhir is not None:
            f = test.fhir
            print(f"FHIR GET {f.url}: HTTP {f.status} {f.resource_type or ''} {json.dumps(f.summary)}")
    out.result(test.to_dict(), text)
    if not test.ok:
        raise Failure()


def cmd_export(args, s, out) -> None:
    from app.core import onboarding

    profile = s.profiles.load(args.profile)
    path = onboarding.export_evidence(s, profile, args.out)
    print(f"Wrote {path} (report.html + evidence.json; no secrets inside).")


def cmd_sandbox_serve(args, s, out) -> None:
    info = s.practice.start(modes=args.mode, port=args.port)
    anchor_file = s.home / "sandbox" / "practice-anchor.pem"
    from app.core.storage import atomic_write

    atomic_write(anchor_file, info["anchor_pem"].encode("ascii"), mode=0o644)
    tls_file = s.home / "sandbox" / "practice-tls-anchor.pem"
    atomic_write(tls_file, info["tls_anchor_pem"].encode("ascii"), mode=0o644)
    if out.as_json:
        print(json.dumps({"base_url": info["base_url"], "community_uri": info["community_uri"],
                          "anchor": str(anchor_file), "anchor_fingerprint": info["anchor_fingerprint"],
                          "tls_anchor": str(tls_file), "community": "practice"}), flush=True)
    else:
        print(f"Practice community running (community name: practice).\n  base URL:      {info['base_url']}\n"
              f"  community URI: {info['community_uri']}\n  anchor:        {anchor_file}\n"
              f"  SHA-256:       {info['anchor_fingerprint']}\n  TLS anchor:    {tls_file}\n"
              "Press Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    s.practice.stop()


def cmd_sandbox_issue(args, s, out) -> None:
    from app.core import onboarding
    from app.cli import Failure, print_check

    profile = s.profiles.load(args.profile)
    check = onboarding.issue_practice_certificate(s, profile)
    out.result(check.to_dict(), lambda: (print_check(check), print("Issued by the practice CA and imported.")))
    if not check.saved:
        raise Failure()


def cmd_sandbox_gallery(args, s, out) -> None:
    items = s.practice.ca().write_gallery(args.out, args.client_uri, now=s.now())
    rows = [{"name": i.name, "file": str(i.file), "password": i.password, "expected_error": i.expected_error,
             "explanation": i.explanation} for i in items]  # not the certificate object: its repr is no data
    out.result({"ok": True, "items": rows}, lambda: [print(f"{r['name']:22} {r['file']}  password: {r['password']}  "
                                                          f"expected: {r['expected_error']}") for r in rows])


def cmd_demo(args, s, out) -> None:
    from app.core.demo import run_demo
    from app.cli import Failure

    from app.cli import explain_line

    secrets, home = None, getattr(args, "keep_home", None)
    if args.passphrase_stdin:  # the key container protected by a passphrase the caller knows
        from app.cli import read_stdin_secret
        from app.core.secrets import UserPassphraseStore

        typed: list[str] = []

        def ask(name: str) -> str:  # one line on stdin protects the demo key and the practice CA alike
            if not typed:
                typed.append(read_stdin_secret())
            return typed[0]

        secrets = UserPassphraseStore(ask)
    steps = run_demo(on_step=None if out.as_json else _print_step, explain=explain_line, secrets=secrets,
                     home=home, evidence=Path(home) / "demo-evidence.zip" if home else None)
    ok = all(st["ok"] for st in steps)
    out.result({"ok": ok, "steps": steps, "total_seconds": round(sum(st["seconds"] for st in steps), 3)},
               lambda: print(f"{'All steps passed' if ok else 'FAILED'} in {sum(st['seconds'] for st in steps):.2f} s."))
    if not ok:
        raise Failure()


def _print_step(step: dict[str, Any]) -> None:
    mark = "ok    " if step["ok"] else "FAILED"
    print(f"{mark} {step['seconds']:6.2f} s  {step['name']}: {step['summary']}", flush=True)
