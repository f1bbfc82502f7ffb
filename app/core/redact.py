"""Redaction of secrets from anything recorded or exported: texts, JSON values, headers, URLs, form
and HTTP bodies. The audit trail (evidence.py) calls these when an exchange is *recorded*, and the
evidence bundle once more over the finished document with every secret value the trail has seen.

What goes: JWS signatures (header and payload stay readable), ``name=value`` / ``"name": value``
pairs whose name says secret, private keys in PEM, credentials in Authorization headers, cookies,
and every value already learnt as secret anywhere else (``known``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from app.core import jsonlimits
from app.core.secretscan import INDEX_FROM, MIN_LENGTH, KnownSecrets

REDACTED = "[redacted]"
SIGNATURE_REMOVED = "[signature-removed]"
MAX_BODY_CHARS = 64 * 1024
# Values that are secrets in their entirety.
SECRET_KEYS = frozenset({"access_token", "refresh_token", "password", "passphrase", "client_secret",
                         "secret", "code_verifier", "private_key", "pin", "registration_access_token"})
# Form / query parameters that are secrets too (in JSON "code" is usually an error code).
SECRET_PARAMS = SECRET_KEYS | {"code"}
SECRET_HEADERS = frozenset({"cookie", "set-cookie", "x-api-key", "api-key"})
AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
# A compact JWS: the signature part is what could be replayed, so it goes; header.payload stay.
_JWS = re.compile(r"(eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{8,})")
_TEXT_SECRET = re.compile(r"""(?i)(?<![A-Za-z0-9_])(["']?(?:%s)["']?\s*[:=]\s*["']?)([^"'&\s,}]+)"""
                          % "|".join(sorted(SECRET_KEYS)))
_FORM_SECRET = re.compile(r"(?i)(?<![A-Za-z0-9_%%])((?:%s)=)([^&\s#]*)" % "|".join(sorted(SECRET_PARAMS)))
_AUTH_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,31}")  # an RFC 9110 token, kept as is
_PRIVATE_PEM = re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|$)", re.S)
_MIN_KNOWN = MIN_LENGTH  # shorter values are not scrubbed by value (they would hit innocent text)


def learn(known: set[str] | None, value: str) -> None:
    """Remember ``value`` as secret (scrubbed wherever it shows up later) unless it is too short."""
    if known is not None and isinstance(value, str) and len(value) >= _MIN_KNOWN:
        known.add(value)


_NAMES = tuple(sorted(SECRET_KEYS))


def _may_name_a_secret(text: str) -> bool:
    """Necessary condition for a _TEXT_SECRET match, tested with str methods: a secret name, an
    optional quote, optional whitespace, then ``:`` or ``=``. The regex itself tries every position
    (IGNORECASE behind a look-behind) at ~50 µs per KB, and "private_key_jwt" is in most metadata."""
    if "=" not in text and ":" not in text:
        return False
    if not text.isascii():  # re's IGNORECASE folds some non-ASCII letters (long s, Kelvin sign) onto ASCII
        return True
    low = text.lower()  # ASCII: same length, same positions
    for sep in ":=":
        i = low.find(sep)
        while i >= 0:
            j = i
            while j and low[j - 1].isspace():  # str.isspace is what re's \s matches
                j -= 1
            if j and low[j - 1] in "\"'":
                j -= 1
            if low.endswith(_NAMES, 0, j):
                return True
            i = low.find(sep, i + 1)
    return False


def redact_text(text: str, known: set[str] | None = None) -> str:
    """Strip JWS signatures and ``secret=value`` pairs from free text; scrub known secret values.

    Each pattern runs only when the literal it needs is present: most texts are short header
    values and JSON members, and running three patterns over each was most of the cost."""
    if len(text) < _MIN_KNOWN and "=" not in text and ":" not in text and (
            not known or (isinstance(known, KnownSecrets) and not known.has_short)):
        return text  # most member names and many values: too short to hold a JWS, a PEM block or a
                     # known value, and no pair without ":" or "="
    if "PRIVATE KEY-----" in text:
        text = _PRIVATE_PEM.sub(f"[private key {REDACTED}]", text)
    if "eyJ" in text:
        def _jws(m: re.Match) -> str:
            learn(known, m.group(2))
            return f"{m.group(1)}.{SIGNATURE_REMOVED}"

        text = _JWS.sub(_jws, text)

    def _pair(m: re.Match) -> str:
        if m.group(2) in (REDACTED, SIGNATURE_REMOVED):
            return m.group(0)
        learn(known, m.group(2))
        return m.group(1) + REDACTED

    # Known values, then ``name=value`` pairs, until a round changes nothing: scrubbing a value can
    # put a secret name at the start of a word ("<token>password=x" -> "[redacted]password=x"), and a
    # pair teaches a value that may occur elsewhere in the text. Then a second call finds nothing
    # more to do (the audit trail relies on that). One round in the usual case.
    for _ in range(3):
        before = text
        text = _scrub_known(text, known)
        if _may_name_a_secret(text):
            text = _TEXT_SECRET.sub(_pair, text)
        if text == before:
            break
    return text


def _scrub_known(text: str, known: set[str] | None) -> str:
    """Known values, longest first; the audit trail's set is indexed (app/core/secretscan.py): a long
    session knows thousands, and one search per value per field made it slower and slower."""
    if not known:
        return text
    if len(known) < INDEX_FROM or not isinstance(known, KnownSecrets):  # the usual few: search each
        for found in known:
            if found in text:
                for secret in sorted(known, key=len, reverse=True):
                    if secret in text:
                        text = text.replace(secret, REDACTED)
                break
        return text
    for _ in range(2):  # again once: a replacement may complete another known value
        present = known.present_in(text)
        if not present:
            break
        for secret in present:
            text = text.replace(secret, REDACTED)
    return text


@functools.lru_cache(maxsize=1024)
def _names_a_secret(key: str) -> bool:
    """A member name that says its value is secret: "access_token", or one the text pattern would
    take as naming one ("Password", "db password"; not "private_key_jwt" or "db_password")."""
    if key.lower() in SECRET_KEYS:
        return True
    probe = f"{key}:x"  # as the member looks in JSON text, minus the quotes
    return any(m.end() == len(probe) for m in _TEXT_SECRET.finditer(probe))


def redact_value(value: Any, known: set[str] | None = None, key: str = "") -> Any:
    """Deep copy of a JSON-like value with secret members replaced and JWS signatures removed."""
    if isinstance(value, dict):
        # member names are text too (judged as they will be shown, i.e. redacted)
        return {name: redact_value(v, known, name) for k, v in value.items()
                for name in (redact_text(str(k), known),)}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, known, key) for v in value]
    if key and _names_a_secret(key) and value not in (None, "", REDACTED):
        if isinstance(value, str):
            learn(known, value)
        return REDACTED
    if isinstance(value, str):
        return redact_text(value, known)
    return value


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
                   known: set[str] | None = None) -> dict[str, str]:
    """Authorization keeps its scheme (``Bearer [redacted]``); cookies and API keys vanish."""
    items = headers.items() if hasattr(headers, "items") else (headers or [])
    out: dict[str, str] = {}
    for name, value in items:
        lname = str(name).lower()
        if lname in AUTH_HEADERS:
            scheme, _, credential = str(value).partition(" ")
            if _AUTH_SCHEME.fullmatch(scheme):
                learn(known, credential.strip())
                value = f"{scheme} {REDACTED}" if credential else REDACTED
            else:  # not "<scheme> <credential>": the whole value is the credential
                learn(known, str(value).strip())
                value = REDACTED
        elif lname in SECRET_HEADERS:
            value = REDACTED
        else:
            value = redact_text(str(value), known)
        out[lname] = f"{out[lname]}, {value}" if lname in out else value
    return out


def redact_url(url: str, known: set[str] | None = None) -> str:
    parts = urlsplit(url)
    if parts.query:
        parts = parts._replace(query=redact_form(parts.query, known))
    return redact_text(urlunsplit(parts), known)


def redact_form(text: str, known: set[str] | None = None) -> str:
    """``a=1&client_secret=x`` keeps its encoding; secret parameters become ``[redacted]``."""
    for k, v in parse_qsl(text, keep_blank_values=True):
        if k.lower() in SECRET_PARAMS:
            learn(known, v)
    return redact_text(_FORM_SECRET.sub(lambda m: m.group(1) + (REDACTED if m.group(2) else ""), text), known)


def redact_body(body: bytes | str | dict | list | None, content_type: str = "",
                known: set[str] | None = None) -> str | None:
    """A body as redacted, bounded text; binary bodies become a size + SHA-256 line."""
    if body is None:
        return None
    if isinstance(body, (dict, list)):
        text = json.dumps(redact_value(body, known), ensure_ascii=False)  # compact: C encoder; the report indents
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if not raw:
            return ""
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            return f"<binary: {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}>"
        ctype = content_type.lower()
        text = None
        if "json" in ctype or decoded.lstrip()[:1] in ("{", "["):
            try:
                text = json.dumps(redact_value(jsonlimits.loads(decoded), known), ensure_ascii=False)
            except ValueError:
                text = None
        if text is None and "x-www-form-urlencoded" in ctype:
            text = redact_form(decoded, known)
        if text is None:
            text = redact_text(decoded, known)
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + f"\n…[truncated: {len(text)} characters in all]"
    return text
