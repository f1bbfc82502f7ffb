"""The headless face: one subcommand per wizard step, calling the same app/core/onboarding functions.

Exit codes: 0 success, 1 failure, 2 usage. Errors are one line with what to do next (never a
traceback; the traceback of an unexpected failure goes to the log file in the data folder).
``--json`` prints exactly one JSON object.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import traceback
from typing import Any, Callable

from app import __version__

KEY_TYPES = ("rsa-3072", "rsa-2048", "rsa-4096", "ec-p256", "ec-p384")
MAX_FILE = 10 * 1024 * 1024


class Failure(Exception):
    """A command ran but did not succeed; its JSON/text was already printed. Exit 1."""


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def line(self, text: str = "") -> None:
        if not self.as_json:
            print(text)

    def result(self, obj: dict[str, Any], text: Callable[[], None] | None = None) -> None:
        if self.as_json:
            print(json.dumps(obj, indent=None, default=str, ensure_ascii=False))
        elif text is not None:
            text()


# ------------------------------------------------------------------ parser

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="udap-onboard", description="Onboard a client to a UDAP / HL7 FAST trust community.")
    p.add_argument("--version", action="version", version=f"udap-onboard {__version__}")
    p.add_argument("--home", help="data folder (default: per-user data folder; env UDAP_ONBOARD_HOME)")
    p.add_argument("--passphrase-stdin", action="store_true",
                   help="read the key passphrase from standard input when no secure keyring exists")
    p.add_argument("--allow-insecure-loopback", action="store_true",
                   help="allow plain http to 127.0.0.1/localhost servers (testing only)")
    p.add_argument("--self-check", action="store_true", help="check that this installation works, then exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def cmd(parent, name, help_text, fn, json_flag=True):
        c = parent.add_parser(name, help=help_text, description=help_text)
        c.set_defaults(fn=fn)
        if json_flag:
            c.add_argument("--json", action="store_true", help="print one JSON object")
        return c

    prof = sub.add_parser("profile", help="create and inspect profiles").add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmd(prof, "create", "create a profile (no secrets inside)", cmd_profile_create)
    c.add_argument("name")
    c.add_argument("--org-name", required=True, help="legal name of the organization")
    c.add_argument("--client-name", required=True, help="name of the client application")
    c.add_argument("--client-uri", required=True, help="the client URI: the SAN URI of the certificate and the iss of every JWT")
    c.add_argument("--contact", required=True, help="contact e-mail address")
    c.add_argument("--org-id", help="organization identifier URI (hl7-b2b organization_id; default: the client URI's origin)")
    c.add_argument("--community", help="trust community name (default: practice)")
    cmd(prof, "list", "list profiles with what is left to do", cmd_profile_list)
    c = cmd(prof, "show", "show a profile", cmd_profile_show)
    c.add_argument("name")

    key = sub.add_parser("key", help="private keys").add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmd(key, "generate", "generate the profile's private key (stored encrypted)", cmd_key_generate)
    c.add_argument("--profile", required=True)
    c.add_argument("--type", default="rsa-3072", choices=KEY_TYPES, help="key type (default rsa-3072)")
    c.add_argument("--replace", action="store_true", help="replace an existing key (the old one is kept as key.p12.prev)")

    csr = sub.add_parser("csr", help="certificate signing requests").add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmd(csr, "create", "create the certificate signing request (PEM to stdout without --out)", cmd_csr_create)
    c.add_argument("--profile", required=True)
    for flag, helptext in (("--cn", "common name (default: client name)"), ("--org", "organization (default: org name)"),
                           ("--ou", "organizational unit"), ("--locality", "city"), ("--state", "state or province"),
                           ("--country", "2-letter country code"), ("--email", "e-mail in the subject")):
        c.add_argument(flag, help=helptext)
    c.add_argument("--out", help="write the PEM to this file")
    c.add_argument("--openssl", action="store_true", help="also print the equivalent openssl commands")

    cert = sub.add_parser("cert", help="certificates").add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmd(cert, "import", "import the certificate (PEM, DER, PKCS#7, PKCS#12) and check it", cmd_cert_import)
    c.add_argument("--profile", required=True)
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--password-stdin", action="store_true", help="read the PKCS#12 password from standard input")
    c.add_argument("--with-key", action="store_true", help="the PKCS#12 carries the key (community-issued key + cert)")
    c = cmd(cert, "check", "check the certificate: key, client URI, validity, chain and revocation", cmd_cert_check)
    c.add_argument("--profile", required=True)
    c.add_argument("--community")

    comm = sub.add_parser("community", help="trust communities").add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmd(comm, "add", "add a trust community", cmd_community_add)
    c.add_argument("name")
    c.add_argument("--uri", required=True, help="the community URI sent as ?community=")
    c.add_argument("--anchor", required=True, action="append", help="trust anchor certificate file (repeatable)")
    c.add_argument("--tls-anchor", action="append", default=[], help="extra TLS root for its servers (repeatable)")
    c.add_argument("--server", action="append", default=[], help="a server base URL (repeatable)")
    c.add_argument("--fingerprint", help="the anchor's SHA-256 fingerprint as your community published it; "
                                         "the anchor is refused when it differs")
    c.add_argument("--revocation", choices=("hard", "soft"), default="hard")
    c.add_argument("--replace", action="store_true")
    cmd(comm, "list", "list trust communities", cmd_community_list)
    c = cmd(comm, "show", "show a trust community", cmd_community_show)
    c.add_argument("name")

    from app import cli_protocol

    cli_protocol.add_commands(sub, cmd)
    return p


# ------------------------------------------------------------------ helpers

def read_file(path: str) -> bytes:
    from app.core.errors import CertificateError, StorageError
    from app.core.storage import read_bounded

    try:
        return read_bounded(path, MAX_FILE)
    except StorageError as exc:
        code = {"file_empty": "empty"}.get(exc.code, exc.code)
        raise CertificateError(code, **exc.fields) from None


def read_stdin_secret() -> str:
    data = sys.stdin.readline()
    return data.rstrip("\r\n")


def open_session(args):
    from app.core.session import Session

    typed: list[str] = []

    def ask(name: str, create: bool = False) -> str:
        if args.passphrase_stdin:  # one line protects every container a command opens (CA and client key)
            if not typed:
                typed.append(read_stdin_secret())
            return typed[0]
        if not sys.stdin.isatty():
            from app.core.errors import SecretStoreError

            raise SecretStoreError("no_secure_keyring")
        if typed:  # asked once per command: the CA's and the client's containers share it
            return typed[0]
        print("No secure system keyring was found; your key will be protected by a passphrase instead.", file=sys.stderr)
        first = getpass.getpass("Key passphrase (12 characters or more): ")
        if create:  # a typo here would lock the new key away for good
            if getpass.getpass("The same passphrase again: ") != first:
                from app.core.errors import InputError

                raise InputError("passphrase_mismatch")
        typed.append(first)
        return first

    return Session(args.home, ask_passphrase=ask, allow_insecure_loopback=args.allow_insecure_loopback)


def explain_line(error: BaseException) -> str:
    from app.ui.feedback import describe

    e = describe(error)
    return f"error: {e.summary} {e.next_step}".rstrip()


# ------------------------------------------------------------------ profile, key, csr, cert, community

def cmd_profile_create(args, s, out: Output) -> None:
    from app.core import onboarding

    profile, warnings = onboarding.create_profile(s, args.name, org_name=args.org_name, client_name=args.client_name,
                                                  client_uri=args.client_uri, contact=args.contact,
                                                  org_id=args.org_id, community=args.community)
    out.result({"ok": True, "profile": profile.name, "warnings": warnings, "folder": str(s.profiles.path(profile.name))},
               lambda: [print(f"Created profile {profile.name} in {s.profiles.path(profile.name)}"),
                        *[print(f"warning: {w_text(w)}") for w in warnings],
                        print(f"Next: udap-onboard key generate --profile {profile.name!r}")])


def w_text(code: str) -> str:
    from app.ui.feedback_table import CLIENT_URI_WARNINGS

    return CLIENT_URI_WARNINGS.get(code, code.replace("_", " "))


def profile_status(s, profile) -> dict[str, Any]:
    from app.core import workflow

    state = workflow.OnboardingState.from_profile(profile, s.now())
    leaf = profile.leaf_certificate()
    days = (leaf.not_valid_after_utc - s.now()).days if leaf is not None else None
    return {"name": profile.name, "client_uri": profile.client_uri, "community": profile.community,
            "certificate_days_left": days, "servers_registered": sorted({r.get("server") or r.get("endpoint")
                                                                         for r in profile.registrations.values()}),
            "next_step": workflow.first_incomplete_step(state).value,
            "remaining": [st.value for st in workflow.remaining(state)]}


def cmd_profile_list(args, s, out: Output) -> None:
    rows = []
    for name in s.profiles.list():
        try:
            rows.append(profile_status(s, s.profiles.load(name)))
        except Exception as exc:  # one damaged profile must not hide the others
            rows.append({"name": name, "error": explain_line(exc)})
    def text():
        if not rows:
            print("No profiles yet. Create one with: udap-onboard profile create NAME --org-name ... "
                  "--client-name ... --client-uri ... --contact ...")
        for r in rows:
            if "error" in r:
                print(f"{r['name']}: {r['error']}")
                continue
            days = "no certificate" if r["certificate_days_left"] is None else f"certificate: {r['certificate_days_left']} days left"
            print(f"{r['name']}: {days}; registered with {len(r['servers_registered'])} server(s); next: {r['next_step']}")
    out.result({"ok": True, "profiles": rows}, text)


def cmd_profile_show(args, s, out: Output) -> None:
    profile = s.profiles.load(args.name)
    data = profile.to_dict()
    data["status"] = profile_status(s, profile)
    out.result({"ok": True, "profile": data}, lambda: print(json.dumps(data, indent=2, default=str)))


def cmd_key_generate(args, s, out: Output) -> None:
    from app.core import onboarding

    profile = s.profiles.load(args.profile)
    onboarding.generate_key(s, profile, args.type, replace=args.replace)
    where = onboarding.key_path(s, profile)
    out.result({"ok": True, "key_type": profile.key_type, "key_file": str(where), "secret_store": s.secrets.backend_name},
               lambda: print(f"Generated a {profile.key_type} key, encrypted in {where} "
                             f"(passphrase kept in: {s.secrets.backend_name}).\n"
                             f"Next: udap-onboard csr create --profile {profile.name!r} --out request.csr"))


def cmd_csr_create(args, s, out: Output) -> None:
    from app.core import onboarding
    from app.core.storage import atomic_write

    profile = s.profiles.load(args.profile)
    subject = {"common_name": args.cn, "organization": args.org, "org_unit": args.ou, "locality": args.locality,
               "state": args.state, "country": args.country, "email": args.email}
    pem = onboarding.create_csr(s, profile, subject)
    if args.out:
        atomic_write(args.out, pem.encode("ascii"), mode=0o644)
    extra = onboarding.openssl_commands(profile, subject) if args.openssl else None
    def text():
        if args.out:
            print(f"Wrote the certificate signing request to {args.out}. Send it to your community's CA.")
        else:
            sys.stdout.write(pem)
        if extra:
            print("\n# Equivalent openssl commands:\n" + extra)
    out.result({"ok": True, "csr": pem, "out": args.out, "openssl": extra}, text)


def print_check(check) -> None:
    from app.ui.feedback_table import CERTIFICATE_PROBLEMS, TRUST_REASONS
    from app.ui.feedback import _fill

    for c in check.summaries:
        print(f"certificate: {c['subject']}  (expires {c['not_after']}, {c['days_left']} days left)")
        print(f"  SHA-256 {c['fingerprint']}")
    for p in check.problems:
        what, todo = CERTIFICATE_PROBLEMS.get(p.code, (p.code, ""))
        mark = "ERROR" if p.severity == "error" else "warning"
        print(f"{mark}: {_fill(what, p.fields)} {_fill(todo, p.fields)}".rstrip())
    if check.trust is not None:
        for row in check.trust["rows"]:
            what, todo = TRUST_REASONS.get(row["reason"], (row["reason"], ""))
            mark = {"ok": "ok", "warning": "warning", "error": "ERROR"}.get(row["status"], row["status"])
            print(f"{mark:7} {row['subject']}: {_fill(what, row.get('detail') or {})} {todo}".rstrip())
    else:
        print("chain: not checked (no trust community chosen; add --community NAME)")
    print("Result: the certificate is ready." if check.ok else "Result: the certificate cannot be used yet (see above).")


def cmd_cert_import(args, s, out: Output) -> None:
    from app.core import onboarding

    profile = s.profiles.load(args.profile)
    password = read_stdin_secret() if args.password_stdin else None
    blobs = [read_file(f) for f in args.files]
    if args.with_key:
        check = onboarding.import_pkcs12(s, profile, blobs[0], password)
    else:
        check = onboarding.import_certificate(s, profile, blobs, password)
    out.result(check.to_dict(), lambda: (print_check(check), print("Imported and saved." if check.saved else
                                                                  "Not saved: your previous certificate (if any) is unchanged.")))
    if not check.saved:
        raise Failure()


def cmd_cert_check(args, s, out: Output) -> None:
    from app.core import onboarding

    profile = s.profiles.load(args.profile)
    check = onboarding.check_certificate(s, profile, args.community)
    out.result(check.to_dict(), lambda: print_check(check))
    if not check.ok:
        raise Failure()


def cmd_community_add(args, s, out: Output) -> None:
    from app.core import onboarding

    added = onboarding.add_community(s, args.name, args.uri, [read_file(f) for f in args.anchor],
                                     tls_anchors=[read_file(f) for f in args.tls_anchor], servers=args.server,
                                     expected_fingerprint=args.fingerprint, revocation=args.revocation,
                                     replace=args.replace)
    fps = added.anchor_fingerprints()
    out.result({"ok": True, "community": added.name, "anchor_fingerprints": fps},
               lambda: [print(f"Added community {added.name} ({added.uri})."),
                        *[print(f"  anchor SHA-256 {fp}  <- compare with the value your community publishes") for fp in fps]])


def community_dict(c) -> dict[str, Any]:
    return {"name": c.name, "uri": c.uri, "anchor_fingerprints": c.anchor_fingerprints(), "servers": c.servers,
            "revocation": c.revocation, "tls_anchors": len(c.tls_anchors), "label": c.extra.get("label", c.name)}


def cmd_community_list(args, s, out: Output) -> None:
    items = [community_dict(c) for c in s.communities.list()]
    out.result({"ok": True, "communities": items},
               lambda: [print(f"{c['name']}: {c['uri']} ({len(c['servers'])} server(s), revocation {c['revocation']})")
                        for c in items] or print("No communities yet. Start the practice one with: udap-onboard sandbox serve"))


def cmd_community_show(args, s, out: Output) -> None:
    d = community_dict(s.communities.get(args.name))
    out.result({"ok": True, "community": d}, lambda: print(json.dumps(d, indent=2)))


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_check:
        from app.selfcheck import run_self_check

        return run_self_check()  # never touches the data folder, so --home does not apply
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    out = Output(getattr(args, "json", False))
    session = None
    try:
        session = open_session(args)
        args.fn(args, session, out)
        return 0
    except Failure:
        return 1
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 1
    except Exception as exc:  # every failure becomes one line (and a JSON object with --json)
        from app.core.errors import UdapOnboardError

        if not isinstance(exc, UdapOnboardError):
            _log_unexpected(args, exc)
        if out.as_json:
            from app.ui.feedback import describe

            e = describe(exc)
            err = exc.to_dict() if isinstance(exc, UdapOnboardError) else {"code": "internal_error", "type": type(exc).__name__}
            print(json.dumps({"ok": False, "error": err, "message": e.summary, "next_step": e.next_step}, default=str))
        else:
            print(explain_line(exc), file=sys.stderr)
        return 1
    finally:
        if session is not None:
            session.close()


def _log_unexpected(args, exc: BaseException) -> None:
    """The traceback goes to a log file in the data folder, never to the screen."""
    try:
        from app.core.storage import data_home, ensure_private_dir

        logs = ensure_private_dir(data_home(args.home) / "logs")
        fd = os.open(logs / "udap-onboard.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        print(f"(details were written to {logs / 'udap-onboard.log'})", file=sys.stderr)
    except Exception:
        pass


if __name__ == "__main__":
    sys.exit(main())
