"""Every code the core can produce has plain wording in app/ui/feedback_table.py.

The source is read with ``ast`` (nothing is executed): every ``XxxError("code", ...)`` of a
subclass of UdapOnboardError, and the codes built at run time (``"rejected_" + error`` with
``error in KNOWN_ERRORS``, ``_TLS_CODES.get(...)``, a code passed in as a parameter, a storage
error re-typed as a certificate error ...) are collected and must have an entry. A new code
without a message, or a message using a field its raise site does not pass, fails here.
"""

from __future__ import annotations

import ast
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

from app.core import errors
from app.ui import feedback_table as table
from app.ui.feedback import describe

ROOT = Path(__file__).resolve().parents[2]


def _sources() -> list[Path]:
    files = sorted((ROOT / "app" / "core").glob("*.py")) + sorted((ROOT / "app" / "sandbox").glob("*.py"))
    files += [p for p in (ROOT / "app" / "cli.py", ROOT / "app" / "cli_protocol.py") if p.exists()]
    return files


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ------------------------------------------------------------------ error classes -> domain

def _error_domains() -> dict[str, str]:
    """Class name -> domain for every UdapOnboardError subclass (errors.py and any defined elsewhere)."""
    domains: dict[str, str] = {}
    todo = list(errors.UdapOnboardError.__subclasses__())
    while todo:
        cls = todo.pop()
        domains[cls.__name__] = cls.domain
        todo += cls.__subclasses__()
    changed = True
    while changed:  # subclasses declared in the scanned modules (AST only, never imported here)
        changed = False
        for path in _sources():
            for node in ast.walk(_module(path).tree):
                if isinstance(node, ast.ClassDef) and node.name not in domains:
                    base = next((_name(b) for b in node.bases if _name(b) in domains), None)
                    if base:
                        own = next((s.value.value for s in node.body if isinstance(s, ast.Assign)
                                    and any(_name(t) == "domain" for t in s.targets)
                                    and isinstance(s.value, ast.Constant)), None)
                        domains[node.name] = own or domains[base]
                        changed = True
    return domains


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


# ------------------------------------------------------------------ modules with parent links

@dataclass
class Module:
    path: Path
    tree: ast.Module
    parents: dict[int, ast.AST] = field(default_factory=dict)
    constants: dict[str, ast.AST] = field(default_factory=dict)

    def parent(self, node):
        return self.parents.get(id(node))

    def ancestors(self, node):
        node = self.parent(node)
        while node is not None:
            yield node
            node = self.parent(node)


@lru_cache(maxsize=None)
def _module(path: Path) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mod = Module(path, tree)
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            mod.parents[id(child)] = node
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    mod.constants[target.id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            mod.constants[stmt.target.id] = stmt.value
    return mod


_FUNC = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _enclosing_function(mod: Module, node):
    return next((a for a in mod.ancestors(node) if isinstance(a, _FUNC)), None)


def _function_name(mod: Module, fn) -> str | None:
    if isinstance(fn, ast.Lambda):
        owner = mod.parent(fn)
        if isinstance(owner, ast.Assign) and len(owner.targets) == 1:
            return _name(owner.targets[0])
        return None
    return fn.name


# ------------------------------------------------------------------ the value resolver

@dataclass
class Values:
    """The strings an expression can evaluate to; ``open`` when some part could not be followed."""

    strings: set[str] = field(default_factory=set)
    open: bool = False

    def __or__(self, other: "Values") -> "Values":
        return Values(self.strings | other.strings, self.open or other.open)


class Resolver:
    def __init__(self, domains: dict[str, str]) -> None:
        self.domains = domains
        self._active: set[int] = set()

    def values(self, mod: Module, node, bind: dict[str, Values] | None = None, domain: str | None = None) -> Values:
        key = id(node)
        if key in self._active:  # a cycle through parameters: nothing new down that path
            return Values()
        self._active.add(key)
        try:
            return self._values(mod, node, bind or {}, domain)
        finally:
            self._active.discard(key)

    def _values(self, mod, node, bind, domain) -> Values:
        if isinstance(node, ast.Constant):
            return Values({node.value}) if isinstance(node.value, str) else Values(open=True)
        if isinstance(node, ast.IfExp):
            return self._ifexp(mod, node, bind, domain)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.values(mod, node.left, bind, domain), self.values(mod, node.right, bind, domain)
            return Values({a + b for a in left.strings for b in right.strings}, left.open or right.open)
        if isinstance(node, ast.JoinedStr):
            out = Values({""})
            for part in node.values:
                part_values = self.values(mod, part.value if isinstance(part, ast.FormattedValue) else part,
                                          bind, domain)
                out = Values({a + b for a in out.strings for b in part_values.strings}, out.open or part_values.open)
            return out
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            out = Values()
            for elt in node.elts:
                out = out | self.values(mod, elt, bind, domain)
            return out
        if isinstance(node, ast.Name):
            return self._name(mod, node, bind, domain)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            return self._dict_get(mod, node, bind, domain)
        if isinstance(node, ast.Attribute) and node.attr == "code":
            return self._reraised(mod, node, domain)
        return Values(open=True)

    def _ifexp(self, mod, node, bind, domain) -> Values:
        test = node.test
        if (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.In)
                and isinstance(test.left, ast.Name)):
            narrowed = dict(bind)
            narrowed[test.left.id] = self.values(mod, test.comparators[0], bind, domain)
            return self.values(mod, node.body, narrowed, domain) | self.values(mod, node.orelse, bind, domain)
        if (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
                and isinstance(test.comparators[0], ast.Constant)
                and ast.dump(test.left) == ast.dump(node.orelse)):
            other = self.values(mod, node.orelse, bind, domain)
            other.strings.discard(test.comparators[0].value)
            return self.values(mod, node.body, bind, domain) | other
        return self.values(mod, node.body, bind, domain) | self.values(mod, node.orelse, bind, domain)

    def _dict_get(self, mod, node, bind, domain) -> Values:
        owner = node.func.value
        mapping = owner if isinstance(owner, ast.Dict) else mod.constants.get(_name(owner) or "")
        if not isinstance(mapping, ast.Dict) or not node.args:
            return Values(open=True)
        pairs = {}
        for k, v in zip(mapping.keys, mapping.values):
            if not (isinstance(v, ast.Constant) and isinstance(v.value, str)):
                return Values(open=True)
            pairs[getattr(k, "value", None)] = v.value
        default = node.args[1] if len(node.args) > 1 else None
        if default is not None and ast.dump(default) == ast.dump(node.args[0]):  # .get(x, x): a renaming
            source = self.values(mod, default, bind, domain)
            return Values({pairs.get(s, s) for s in source.strings}, source.open)
        out = Values(set(pairs.values()))
        return out | self.values(mod, default, bind, domain) if default is not None else out

    def _name(self, mod, node: ast.Name, bind, domain) -> Values:
        if node.id in bind:
            return bind[node.id]
        for anc in mod.ancestors(node):  # for name in SOME_TUPLE: ...
            if isinstance(anc, (ast.For, ast.comprehension)) and isinstance(anc.target, ast.Name) \
                    and anc.target.id == node.id:
                return self.values(mod, mod.constants.get(_name(anc.iter), anc.iter)
                                   if isinstance(anc.iter, ast.Name) else anc.iter, {}, domain)
        fn = _enclosing_function(mod, node)
        if fn is not None and not isinstance(fn, ast.Lambda):
            assigned = [s.value for s in ast.walk(fn) if isinstance(s, (ast.Assign, ast.AnnAssign))
                        and s.value is not None
                        and any(isinstance(t, ast.Name) and t.id == node.id
                                for t in (s.targets if isinstance(s, ast.Assign) else [s.target]))]
            if assigned:
                out = Values()
                for value in assigned:
                    out = out | self.values(mod, value, {}, domain)
                return out
        if fn is not None:
            params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
            if node.id in params or node.id in [a.arg for a in fn.args.kwonlyargs]:
                return self._call_sites(mod, fn, node.id, params, domain)
        if node.id in mod.constants:
            return self.values(mod, mod.constants[node.id], {}, domain)
        return Values(open=True)

    def _call_sites(self, mod, fn, param: str, params: list[str], domain) -> Values:
        name = _function_name(mod, fn)
        if name is None:
            return Values(open=True)
        method = isinstance(mod.parent(fn), ast.ClassDef) and params[:1] in (["self"], ["cls"])
        out, found = Values(), False
        for call in ast.walk(mod.tree):
            if not (isinstance(call, ast.Call) and _name(call.func) == name):
                continue
            index = params.index(param) if param in params else None
            if index is not None and method and isinstance(call.func, ast.Attribute):
                index -= 1
            arg = next((k.value for k in call.keywords if k.arg == param), None)
            if arg is None and index is not None and index < len(call.args) \
                    and not any(isinstance(a, ast.Starred) for a in call.args[:index + 1]):
                arg = call.args[index]
            if arg is None:
                continue
            found = True
            out = out | self.values(mod, arg, {}, domain)
        return out if found else Values(open=True)

    def _reraised(self, mod, node: ast.Attribute, domain) -> Values:
        """``exc.code`` inside ``except SomeError as exc``: same domain is already covered where it was
        raised; another domain brings the codes raised by the functions the ``try`` calls."""
        holder = _name(node.value)
        handler = next((a for a in mod.ancestors(node) if isinstance(a, ast.ExceptHandler) and a.name == holder), None)
        if handler is None or handler.type is None:
            return Values(open=True)
        classes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        source = {self.domains.get(_name(c) or "") for c in classes}
        if None in source:
            return Values(open=True)
        if source == {domain}:
            return Values()
        attempt = mod.parent(handler)
        called = {_name(c.func) for stmt in attempt.body for c in ast.walk(stmt) if isinstance(c, ast.Call)}
        out = Values()
        for path in _sources():
            other = _module(path)
            for fn in ast.walk(other.tree):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name in called:
                    for site in error_sites_in(other, self, fn):
                        if site.domain in source:
                            out = out | Values(set(site.codes), site.open)
        return out if out.strings else Values(open=True)


# ------------------------------------------------------------------ raise sites

@dataclass
class Site:
    file: str
    line: int
    domain: str
    codes: set[str]
    open: bool
    keywords: set[str]
    splat: bool

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def error_sites_in(mod: Module, resolver: Resolver, within=None) -> list[Site]:
    sites = []
    for node in ast.walk(within or mod.tree):
        if not (isinstance(node, ast.Call) and _name(node.func) in resolver.domains):
            continue
        domain = resolver.domains[_name(node.func)]
        if not node.args:
            sites.append(Site(_rel(mod.path), node.lineno, domain, set(), True, set(), False))
            continue
        found = resolver.values(mod, node.args[0], domain=domain)
        sites.append(Site(_rel(mod.path), node.lineno, domain, found.strings, found.open,
                          {k.arg for k in node.keywords if k.arg}, any(k.arg is None for k in node.keywords)))
    return sites


@lru_cache(maxsize=None)
def all_error_sites() -> tuple[Site, ...]:
    resolver = Resolver(_error_domains())
    return tuple(site for path in _sources() for site in error_sites_in(_module(path), resolver))


def _explanation_dicts() -> list[tuple[str, str, set[str], str]]:
    """``{"domain": ..., "code": ..., "fields": {...}}`` literals handed to the UI instead of an exception."""
    out = []
    for path in _sources():
        for node in ast.walk(_module(path).tree):
            if not isinstance(node, ast.Dict):
                continue
            items = {getattr(k, "value", None): v for k, v in zip(node.keys, node.values)}
            d, c = items.get("domain"), items.get("code")
            if isinstance(d, ast.Constant) and isinstance(c, ast.Constant) and isinstance(c.value, str):
                fields = items.get("fields")
                names = {getattr(k, "value", None) for k in fields.keys} if isinstance(fields, ast.Dict) else set()
                out.append((d.value, c.value, names, f"{_rel(path)}:{node.lineno}"))
    return out


# Sites whose code cannot be followed statically, and the test that covers them instead.
DYNAMIC_SITES = {
    # _Rows.add: DiscoveryError(reason) for a row's reason, which may be a network/jws/trust code or
    # the reason of a trust row -> test_every_discovery_reason_is_explained
    "app/core/discovery.py": "DiscoveryError(reason, ...)",
}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _entry_fields(key: str) -> set[str]:
    summary, next_step = table.MESSAGES[key]
    return _placeholders(summary) | _placeholders(next_step)


# ------------------------------------------------------------------ tests: errors

def test_the_scan_finds_the_raise_sites():
    sites = all_error_sites()
    assert len(sites) > 150
    domains = {s.domain for s in sites}
    assert {"input", "storage", "profile", "community", "secrets", "key", "certificate", "trust", "network",
            "discovery", "statement", "registration", "token", "sandbox", "jws"} <= domains
    codes = {f"{s.domain}.{c}" for s in sites for c in s.codes}
    # dynamic codes are followed: a parameter, "rejected_" + a known error, a dict lookup, a re-raise
    assert {"community.tls_anchor_unreadable", "registration.rejected_unapproved_software_statement",
            "token.rejected_invalid_scope", "network.tls_wrong_name", "certificate.file_not_found",
            "secrets.keyring_locked"} <= codes


def test_every_raised_error_has_a_message():
    missing = sorted({f"{s.domain}.{c}  ({s.where})" for s in all_error_sites() for c in s.codes
                      if f"{s.domain}.{c}" not in table.MESSAGES
                      and not (s.file in DYNAMIC_SITES and c == "ok")})  # "ok" rows pass, they never raise
    assert not missing, "codes without an entry in feedback_table.MESSAGES:\n" + "\n".join(missing)


def test_every_raise_site_code_can_be_followed():
    unknown = sorted(s.where for s in all_error_sites() if s.open and s.file not in DYNAMIC_SITES)
    assert not unknown, ("raise sites whose code cannot be read from the source; use a literal code "
                         "or teach this test the pattern:\n" + "\n".join(unknown))


@pytest.mark.parametrize("registration_error", ["invalid_software_statement", "unapproved_software_statement",
                                                "invalid_client_metadata", "invalid_redirect_uri",
                                                "unapproved_certification", "invalid_certification", "other"])
def test_registration_refusals_have_messages(registration_error):
    assert f"registration.rejected_{registration_error}" in table.MESSAGES


@pytest.mark.parametrize("token_error", ["invalid_client", "invalid_request", "invalid_grant", "invalid_scope",
                                         "unauthorized_client", "unsupported_grant_type", "other"])
def test_token_refusals_have_messages(token_error):
    assert f"token.rejected_{token_error}" in table.MESSAGES


def test_messages_only_use_fields_every_raise_site_passes():
    wrong = []
    for s in all_error_sites():
        if s.splat:  # **fields: the names are not all visible here
            continue
        for code in s.codes:
            key = f"{s.domain}.{code}"
            if key in table.MESSAGES:
                extra = _entry_fields(key) - s.keywords
                if extra:
                    wrong.append(f"{key} uses {sorted(extra)} but {s.where} passes only {sorted(s.keywords)}")
    for domain, code, names, where in _explanation_dicts():
        key = f"{domain}.{code}"
        if key in table.MESSAGES and _entry_fields(key) - names:
            wrong.append(f"{key} uses {sorted(_entry_fields(key) - names)}; {where} passes {sorted(names)}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_explanations_handed_over_as_dicts_have_messages():
    missing = sorted(f"{d}.{c} ({where})" for d, c, _, where in _explanation_dicts()
                     if d != "general" and f"{d}.{c}" not in table.MESSAGES)
    assert not missing, "\n".join(missing)


# ------------------------------------------------------------------ tests: report items

def _calls(path: Path, name: str):
    return [n for n in ast.walk(_module(path).tree) if isinstance(n, ast.Call) and _name(n.func) == name]


def _finding_codes(relpath: str) -> dict[str, set[str]]:
    """code -> keyword names at each add/warn call: statement lint findings, registration/token warnings."""
    path = ROOT / relpath
    mod, resolver = _module(path), Resolver(_error_domains())
    codes: dict[str, set[str]] = {}
    for call in _calls(path, "Finding"):
        if call.args:
            found = resolver.values(mod, call.args[0])
            assert not found.open, f"{relpath}:{call.lineno}: a Finding code that cannot be followed"
            for code in found.strings:
                codes.setdefault(code, set())
    seen: set[str] = set()
    for helper in ("add", "warn"):  # the fields a finding carries: those passed at EVERY call for that code
        for call in _calls(path, helper):
            if isinstance(call.func, ast.Name) and call.args:
                names = {k.arg for k in call.keywords if k.arg}
                for code in resolver.values(mod, call.args[0]).strings:
                    if code in codes:
                        codes[code] = codes[code] & names if code in seen else names
                        seen.add(code)
    for node in ast.walk(mod.tree):  # {"code": ..., "severity": ...}: a finding written as a dict
        if isinstance(node, ast.Dict):
            items = {getattr(k, "value", None): v for k, v in zip(node.keys, node.values)}
            if "severity" in items and isinstance(items.get("code"), ast.Constant):
                codes.setdefault(items["code"].value, set())
    return codes


def _check_table(name: str, entries: dict, codes: dict[str, set[str]], minimum: int) -> None:
    assert len(codes) >= minimum, f"the scan for {name} found too little: {sorted(codes)}"
    missing = sorted(set(codes) - set(entries))
    assert not missing, f"codes without an entry in {name}: {missing}"
    wrong = []
    for code, names in codes.items():
        used = _placeholders(entries[code][0]) | _placeholders(entries[code][1])
        if used - names:
            wrong.append(f"{name}[{code!r}] uses {sorted(used - names)}; the finding carries {sorted(names)}")
    assert not wrong, "\n".join(wrong)


def test_every_lint_finding_is_explained():
    codes = _finding_codes("app/core/statement.py")
    codes.update({c: set() for c in _finding_codes("app/core/registration.py") if c == "statement_unreadable"})
    _check_table("LINT_FINDINGS", table.LINT_FINDINGS, codes, minimum=40)
    assert {"cancel_has_redirect_uris", "cancel_has_logo_uri", "statement_unreadable"} <= set(table.LINT_FINDINGS)


def test_every_registration_warning_is_explained():
    codes = {c: f for c, f in _finding_codes("app/core/registration.py").items() if c != "statement_unreadable"}
    _check_table("REGISTRATION_WARNINGS", table.REGISTRATION_WARNINGS, codes, minimum=5)
    assert {"client_secret_ignored", "registration_access_token_ignored"} <= set(codes)


def test_every_token_warning_is_explained():
    _check_table("TOKEN_WARNINGS", table.TOKEN_WARNINGS, _finding_codes("app/core/token.py"), minimum=4)


def _certificate_problems() -> dict[str, set[str]]:
    codes: dict[str, set[str]] = {}
    for call in _calls(ROOT / "app/core/certs.py", "Problem"):
        assert call.args and isinstance(call.args[0], ast.Constant), f"certs.py:{call.lineno}: literal code please"
        detail = call.args[2] if len(call.args) > 2 else None
        names = {k.value for k in detail.keys if isinstance(k, ast.Constant)} if isinstance(detail, ast.Dict) else set()
        codes[call.args[0].value] = codes.get(call.args[0].value, names) & names
    return codes


def test_every_certificate_problem_is_explained():
    _check_table("CERTIFICATE_PROBLEMS", table.CERTIFICATE_PROBLEMS, _certificate_problems(), minimum=10)


def _trust_reasons() -> set[str]:
    """Reasons of trust rows: _problem(cert, "reason"), ("reason", {detail}), status/reason tuples,
    {"reason": ...} dicts, _CRL_FAILURES and _window_problem's answers."""
    mod = _module(ROOT / "app/core/trust.py")
    found: set[str] = set()

    def text(node):
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Call) and _name(node.func) == "_problem" and len(node.args) > 1 and text(node.args[1]):
            found.add(text(node.args[1]))
        elif isinstance(node, ast.Tuple) and len(node.elts) >= 2:
            first, second = node.elts[0], node.elts[1]
            if text(first) and isinstance(second, ast.Dict):
                found.add(text(first))
            elif text(first) in ("ok", "error", "warning") and text(second):
                found.add(text(second))
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if text(k) == "reason" and text(v):
                    found.add(text(v))
        elif isinstance(node, ast.FunctionDef) and node.name == "_window_problem":
            found |= {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    found |= {text(e) for e in getattr(mod.constants.get("_CRL_FAILURES"), "elts", [])}
    return found - {None}


def test_every_trust_reason_is_explained():
    reasons = _trust_reasons()
    assert len(reasons) >= 12 and {"expired", "revoked", "policy_rejected", "crl_stale", "anchor"} <= reasons
    missing = sorted(reasons - set(table.TRUST_REASONS))
    assert not missing, f"trust reasons without an entry in TRUST_REASONS: {missing}"
    for reason in reasons - {"ok", "anchor"}:
        assert table.TRUST_REASONS[reason][1], f"TRUST_REASONS[{reason!r}] needs a next step"


def _codes_of(domain: str) -> set[str]:
    return {c for s in all_error_sites() if s.domain == domain for c in s.codes}


def discovery_reasons() -> set[str]:
    """Every reason a discovery row can carry (fail and warning)."""
    path = ROOT / "app/core/discovery.py"
    mod, resolver = _module(path), Resolver(_error_domains())
    found: set[str] = set()
    for call in _calls(path, "add") + _calls(path, "stop") + _calls(path, "lacks"):
        index = {"add": 3, "stop": 2, "lacks": 1}[_name(call.func)]
        if len(call.args) > index:
            found |= resolver.values(mod, call.args[index]).strings
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Tuple) and len(node.elts) >= 2 and isinstance(node.elts[0], ast.Constant):
            first, second = node.elts[0].value, node.elts[1]
            if first in ("fail", "warning") and isinstance(second, ast.Constant):
                found.add(second.value)
            elif isinstance(first, str) and isinstance(second, ast.Dict):
                found.add(first)
    assert {"bad_base_url", "iss_not_base_url", "endpoint_mismatch", "no_common_algorithm",
            "hl7_b2b_not_listed", "certifications_required", "untrusted_chain"} <= found
    # Reasons taken from other errors: the fetch (network), the JWS (jws), the chain (trust rows,
    # trust errors, an unreadable anchor), and the signed-metadata verdict.
    found |= _codes_of("network") | _codes_of("jws") | _codes_of("trust") | {"anchor_unreadable"}
    found |= _trust_reasons() - {"ok", "anchor"}
    found |= {c for s in all_error_sites() if s.file == "app/core/discovery.py" for c in s.codes}
    return found - {"ok"}


def test_every_discovery_reason_is_explained():
    reasons = discovery_reasons()
    missing = sorted(r for r in reasons if r not in table.DISCOVERY_REASONS)
    assert not missing, f"discovery reasons without an entry in DISCOVERY_REASONS: {missing}"
    missing = sorted(r for r in reasons if f"discovery.{r}" not in table.MESSAGES)
    assert not missing, f"discovery reasons without an entry discovery.<reason> in MESSAGES: {missing}"
    for reason, sentence in table.DISCOVERY_REASONS.items():  # printed as is by the CLI
        assert sentence and "{" not in sentence and "}" not in sentence, reason


@pytest.mark.parametrize("domain,entries", [("trust", "TRUST_REASONS"), ("certificate", "CERTIFICATE_PROBLEMS"),
                                            ("statement", "LINT_FINDINGS")])
def test_report_items_are_explained_by_the_same_table_as_errors(domain, entries):
    """The wizard explains a trust row, a certificate problem and a lint finding through MESSAGES."""
    missing = sorted(f"{domain}.{code}" for code in getattr(table, entries)
                     if code not in ("ok", "anchor") and f"{domain}.{code}" not in table.MESSAGES)
    assert not missing


# ------------------------------------------------------------------ tests: wording

def _all_entries():
    for name in ("MESSAGES", "DOMAIN_DEFAULTS", "TRUST_REASONS", "CERTIFICATE_PROBLEMS", "LINT_FINDINGS",
                 "REGISTRATION_WARNINGS", "TOKEN_WARNINGS"):
        for key, pair in getattr(table, name).items():
            yield name, key, pair


def test_every_entry_is_a_pair_of_valid_templates():
    bad = []
    for name, key, pair in _all_entries():
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            bad.append(f"{name}[{key!r}] is not (summary, next step)")
            continue
        for template in pair:
            try:
                parsed = list(string.Formatter().parse(template))
            except ValueError as exc:
                bad.append(f"{name}[{key!r}]: {exc}")
                continue
            for _, field_name, spec, conversion in parsed:
                if field_name is not None and (not field_name.isidentifier() or spec or conversion):
                    bad.append(f"{name}[{key!r}]: placeholder {{{field_name}}} must be a plain field name")
        if not pair[0].strip():
            bad.append(f"{name}[{key!r}] has no summary")
    assert not bad, "\n".join(bad)


def test_every_error_says_what_to_do_next():
    empty = [f"{name}[{key!r}]" for name, key, (_, next_step) in _all_entries()
             if not next_step.strip() and not (name == "TRUST_REASONS" and key in ("ok", "anchor"))]
    assert not empty, "entries without a next step: " + ", ".join(empty)


def test_keys_are_domain_dot_code_of_a_known_domain():
    domains = set(_error_domains().values())
    bad = [k for k in table.MESSAGES if k.count(".") != 1 or k.split(".")[0] not in domains]
    assert not bad
    assert set(table.DOMAIN_DEFAULTS) >= domains | {"general"}


def _sample(template_fields: set[str]) -> dict[str, str]:
    return {name: f"sample-{name}" for name in template_fields}


def test_describe_fills_every_message_when_the_fields_are_given():
    by_domain = {}
    todo = list(errors.UdapOnboardError.__subclasses__())
    while todo:
        cls = todo.pop()
        by_domain.setdefault(cls.domain, cls)
        todo += cls.__subclasses__()
    bad = []
    for key in table.MESSAGES:
        domain, code = key.split(".")
        exc = by_domain[domain](code, **_sample(_entry_fields(key)))
        e = describe(exc)
        for text in (e.summary, e.next_step):
            if "{" in text or "}" in text or "?" in text:
                bad.append(f"{key}: {text}")
        assert e.details.startswith(f"[{key}]")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("domain", sorted({c.domain for c in [errors.InputError, errors.StorageError,
                                           errors.ProfileError, errors.CommunityError, errors.SecretStoreError,
                                           errors.KeyContainerError, errors.CertificateError, errors.TrustError,
                                           errors.NetworkError, errors.DiscoveryError, errors.StatementError,
                                           errors.RegistrationError, errors.TokenError, errors.SandboxError,
                                           errors.JwsError]}))
def test_describe_a_sample_error_of_each_domain(domain):
    cls = next(c for c in errors.UdapOnboardError.__subclasses__() if c.domain == domain)
    key = next(k for k in table.MESSAGES if k.startswith(domain + "."))
    e = describe(cls(key.split(".")[1], **_sample(_entry_fields(key))))
    assert e.summary and e.next_step
    assert "{" not in e.summary + e.next_step and "?" not in e.summary + e.next_step
    # an unknown code of the domain falls back to the domain's sentence, never to a traceback
    fallback = describe(cls("some_new_code", url="https://x.example", path="/tmp/x"))
    assert fallback.summary and fallback.next_step and "{" not in fallback.summary + fallback.next_step


def test_describe_does_not_leak_an_unexpected_exception_message():
    secret = "hunter2-Passphrase-/home/alice/key.p12"
    e = describe(ValueError(secret))
    assert secret not in e.summary + e.next_step + e.details
    assert "hunter2" not in e.summary + e.next_step + e.details
    assert e.next_step


def test_plain_words_only():
    """The reader may never have heard of UDAP: no Python reprs, no stack jargon, no double spaces."""
    bad = []
    for name, key, pair in _all_entries():
        for text in pair:
            if any(w in text for w in ("Traceback", "NoneType", "Exception", "  ")):
                bad.append(f"{name}[{key!r}]: {text}")
            if text and not text.rstrip().endswith((".", ")", "`")):
                bad.append(f"{name}[{key!r}] should end like a sentence: {text}")
    assert not bad, "\n".join(bad)
