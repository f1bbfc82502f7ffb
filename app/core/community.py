"""Trust communities: who we trust (anchors), where we connect (servers) and how strictly.

User-added communities live in ``communities.json`` in the data folder; built-in ones (the
bundled list and the practice community made at run time) are kept in memory only, so a
regenerated practice CA never leaves a stale copy on disk.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from dataclasses import dataclass, field, replace as dc_replace
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.core import certs, jsonlimits
from app.core.errors import CommunityError, StorageError
from app.core.storage import atomic_write, data_home, read_bounded

CATALOG_FILE = "communities.json"
CATALOG_FORMAT = 1
CATALOG_LIMIT = 8 * 2**20
NAME_MAX = 100
REVOCATION_MODES = ("hard", "soft")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER, uppercase hex with colons (the form people compare by eye)."""
    return certs.fingerprint(cert)


def normalize_fingerprint(text: str) -> str:
    hexits = "".join(c for c in text.upper() if c in "0123456789ABCDEF")
    return ":".join(hexits[i:i + 2] for i in range(0, len(hexits), 2))


def _parse_pems(pem: str | bytes, code: str, index: int) -> list[x509.Certificate]:
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise CommunityError(code, index=index) from None
    if not certs:
        raise CommunityError(code, index=index)
    return certs


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def validate_name(name: str) -> str:
    """A community name is shown and used as a key: printable, trimmed, at most 100 characters."""
    if not isinstance(name, str) or not name.strip():
        raise CommunityError("name_empty")
    name = unicodedata.normalize("NFC", name.strip())
    if len(name) > NAME_MAX:
        raise CommunityError("name_unsafe", name=name[:NAME_MAX], reason="too_long", limit=NAME_MAX)
    for pos, ch in enumerate(name):
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":  # control, format, odd spaces
            raise CommunityError("name_unsafe", name=name, reason="bad_character", position=pos)
    return name


def validate_community_uri(uri: str) -> str:
    """The value sent as ``?community=``: an absolute URI (scheme + rest), ASCII, no spaces."""
    if not isinstance(uri, str) or not uri.strip():
        raise CommunityError("uri_empty")
    uri = uri.strip()
    if not uri.isascii() or any(c.isspace() or ord(c) < 33 for c in uri):
        raise CommunityError("uri_not_absolute", uri=uri, reason="bad_character")
    parts = urlsplit(uri)
    if not parts.scheme or len(parts.scheme) < 2 or not (parts.netloc or parts.path):
        raise CommunityError("uri_not_absolute", uri=uri, reason="no_scheme")
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise CommunityError("uri_not_absolute", uri=uri, reason="no_host")
    return uri


def validate_server_url(url: str) -> str:
    """A server base URL: https, or http only on loopback (the practice community)."""
    if not isinstance(url, str) or not url.strip():
        raise CommunityError("server_url_invalid", url=str(url), reason="empty")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CommunityError("server_url_invalid", url=url, reason="not_absolute")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise CommunityError("server_url_invalid", url=url, reason="not_https")
    if parts.fragment:
        raise CommunityError("server_url_invalid", url=url, reason="fragment")
    return url


@dataclass
class TrustCommunity:
    """One trust community as the wizard captures it (requirements §13)."""

    name: str
    uri: str
    anchors: list[str] = field(default_factory=list)        # PEM, one certificate each
    tls_anchors: list[str] = field(default_factory=list)    # PEM, extra TLS roots for its servers
    servers: list[str] = field(default_factory=list)        # base URLs
    revocation: str = "hard"
    builtin: bool = False
    intermediates: list[str] = field(default_factory=list)  # PEM, optional help for path building
    extra: dict[str, Any] = field(default_factory=dict)     # keys from newer files, kept verbatim

    def anchor_certificates(self) -> list[x509.Certificate]:
        return [c for i, pem in enumerate(self.anchors) for c in _parse_pems(pem, "anchor_unreadable", i)]

    def anchor_fingerprints(self) -> list[str]:
        return [certificate_fingerprint(c) for c in self.anchor_certificates()]

    def intermediate_certificates(self) -> list[x509.Certificate]:
        return [c for i, pem in enumerate(self.intermediates)
                for c in _parse_pems(pem, "intermediate_unreadable", i)]

    def validated(self) -> "TrustCommunity":
        """A normalized copy, or CommunityError: the checks run on every add."""
        name = validate_name(self.name)
        uri = validate_community_uri(self.uri)
        if self.revocation not in REVOCATION_MODES:
            raise CommunityError("bad_revocation", value=str(self.revocation), allowed=list(REVOCATION_MODES))
        if not self.anchors:
            raise CommunityError("no_anchors", name=name)
        anchors: dict[str, str] = {}
        for i, pem in enumerate(self.anchors):
            for cert in _parse_pems(pem, "anchor_unreadable", i):
                fp = certificate_fingerprint(cert)
                if not certs.is_ca(cert):
                    raise CommunityError("anchor_not_ca", index=i, subject=cert.subject.rfc4514_string(),
                                         fingerprint=fp)
                anchors.setdefault(fp, _pem(cert))
        tls: dict[str, str] = {}
        for i, pem in enumerate(self.tls_anchors):
            for cert in _parse_pems(pem, "tls_anchor_unreadable", i):
                tls.setdefault(certificate_fingerprint(cert), _pem(cert))
        inter: dict[str, str] = {}
        for i, pem in enumerate(self.intermediates):
            for cert in _parse_pems(pem, "intermediate_unreadable", i):
                inter.setdefault(certificate_fingerprint(cert), _pem(cert))
        servers = list(dict.fromkeys(validate_server_url(s) for s in self.servers))
        return TrustCommunity(name=name, uri=uri, anchors=list(anchors.values()), tls_anchors=list(tls.values()),
                              servers=servers, revocation=self.revocation, builtin=bool(self.builtin),
                              intermediates=list(inter.values()), extra=dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """JSON form; each anchor carries its SHA-256 so a shipped file can be checked by eye."""
        out = dict(self.extra)
        out.update({
            "name": self.name, "uri": self.uri,
            "anchors": [{"sha256": certificate_fingerprint(_parse_pems(p, "anchor_unreadable", i)[0]), "pem": p}
                        for i, p in enumerate(self.anchors)],
            "tls_anchors": list(self.tls_anchors), "intermediates": list(self.intermediates),
            "servers": list(self.servers), "revocation": self.revocation, "builtin": self.builtin,
        })
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrustCommunity":
        """Inverse of to_dict; a stated anchor fingerprint that does not match its PEM is refused."""
        if not isinstance(data, dict):
            raise CommunityError("bad_definition", reason="not_object")
        anchors: list[str] = []
        for i, item in enumerate(data.get("anchors") or []):
            if isinstance(item, dict):
                pem, stated = item.get("pem"), item.get("sha256")
            else:
                pem, stated = item, None
            if not isinstance(pem, str):
                raise CommunityError("anchor_unreadable", index=i)
            if stated:
                actual = certificate_fingerprint(_parse_pems(pem, "anchor_unreadable", i)[0])
                if normalize_fingerprint(str(stated)) != actual:
                    raise CommunityError("anchor_fingerprint_mismatch", index=i, expected=normalize_fingerprint(str(stated)),
                                         actual=actual)
            anchors.append(pem)
        known = {"name", "uri", "anchors", "tls_anchors", "intermediates", "servers", "revocation", "builtin"}

        def strings(key: str) -> list[str]:
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise CommunityError("bad_definition", reason="not_string_list", field=key)
            return list(value)

        return cls(name=str(data.get("name") or ""), uri=str(data.get("uri") or ""), anchors=anchors,
                   tls_anchors=strings("tls_anchors"), servers=strings("servers"),
                   revocation=str(data.get("revocation") or "hard"), builtin=bool(data.get("builtin", False)),
                   intermediates=strings("intermediates"),
                   extra={k: v for k, v in data.items() if k not in known})


def load_builtin_communities(path: str | Path) -> list[TrustCommunity]:
    """Read a bundled ``communities.json`` (``{"communities": [...]}`` or a bare list), all marked builtin."""
    raw = read_bounded(path, CATALOG_LIMIT)
    try:
        doc = jsonlimits.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CommunityError("catalog_damaged", path=str(path)) from None
    items = doc.get("communities", []) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise CommunityError("catalog_damaged", path=str(path))
    out = []
    for item in items:
        c = TrustCommunity.from_dict(item).validated()
        c.builtin = True
        out.append(c)
    return out


class CommunityCatalog:
    """Built-in communities (memory) + the user's own (``communities.json``, re-read before each change).

    The user file is read on every call, so a change made by another process (the CLI while the
    GUI runs) is seen at once; only its parse (JSON, PEM, fingerprints: ~0.1 ms a community) is
    cached, keyed on the file's exact bytes, which unlike stat data cannot miss a same-size edit
    made within one timestamp tick. Callers get copies: the cached objects are never handed out.
    """

    def __init__(self, home: str | Path | None = None, builtins: Iterable[TrustCommunity] = ()) -> None:
        self.home = data_home(home)
        self.path = self.home / CATALOG_FILE
        self._builtin: dict[str, TrustCommunity] = {}
        self._parsed: tuple[bytes, list[TrustCommunity]] | None = None  # (file bytes, their parse)
        self._parsed_lock = threading.Lock()
        for c in builtins:
            self.add(dc_replace(c, builtin=True), replace=True)

    def _read_user(self) -> list[TrustCommunity]:
        try:
            raw = read_bounded(self.path, CATALOG_LIMIT)
        except StorageError as exc:
            if exc.code == "file_not_found":
                return []
            if exc.code in ("file_empty",):
                raise CommunityError("catalog_damaged", path=str(self.path), backup=self._backup()) from None
            raise
        with self._parsed_lock:
            parsed = self._parsed
        if parsed is not None and parsed[0] == raw:
            return [_copy(c) for c in parsed[1]]
        out = self._parse_user(raw)
        with self._parsed_lock:
            self._parsed = (raw, out)
        return [_copy(c) for c in out]

    def _parse_user(self, raw: bytes) -> list[TrustCommunity]:
        """Damaged or newer files raise every time (never cached), with the backup as it is now."""
        try:
            doc = jsonlimits.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise CommunityError("catalog_damaged", path=str(self.path), backup=self._backup()) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("format"), int):
            raise CommunityError("catalog_damaged", path=str(self.path), backup=self._backup())
        if doc["format"] > CATALOG_FORMAT:
            raise CommunityError("newer_format", path=str(self.path), format=doc["format"], supported=CATALOG_FORMAT)
        items = doc.get("communities")
        if not isinstance(items, list):
            raise CommunityError("catalog_damaged", path=str(self.path), backup=self._backup())
        out = []
        for item in items:
            c = TrustCommunity.from_dict(item)
            c.builtin = False
            out.append(c)
        return out

    def _backup(self) -> str | None:
        prev = self.path.with_name(self.path.name + ".prev")
        return str(prev) if prev.exists() else None

    def _write_user(self, communities: list[TrustCommunity]) -> None:
        doc = {"format": CATALOG_FORMAT, "communities": [c.to_dict() for c in communities]}
        data = json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
        with self._parsed_lock:
            self._parsed = None
        atomic_write(self.path, data, keep_previous=self.path.exists())

    def list(self) -> list[TrustCommunity]:
        """Built-ins first (in the order registered), then the user's in the order added.

        A user entry whose name a built-in later took is hidden here but kept in the file.
        """
        return list(self._builtin.values()) + [u for u in self._read_user() if _key(u.name) not in self._builtin]

    def names(self) -> list[str]:
        return [c.name for c in self.list()]

    def get(self, name: str) -> TrustCommunity:
        key = _key(name)
        if key in self._builtin:  # what list() would give (a built-in hides a user entry of that name),
            return self._builtin[key]  # without reading the user file
        for c in self.list():
            if _key(c.name) == key:
                return c
        raise CommunityError("not_found", name=name)

    def add(self, community: TrustCommunity, replace: bool = False) -> TrustCommunity:
        """Validate and store; an existing name needs ``replace=True``; built-ins stay in memory."""
        c = community.validated()
        key = _key(c.name)
        if c.builtin:  # never reads the user file: a damaged one must not hide the practice community
            if key in self._builtin and not replace:
                raise CommunityError("exists", name=c.name)
            self._builtin[key] = c
            return c
        user = self._read_user()
        clash_user = [u for u in user if _key(u.name) == key]
        if key in self._builtin:
            raise CommunityError("builtin_readonly", name=c.name)
        if clash_user and not replace:
            raise CommunityError("exists", name=c.name)
        if clash_user:
            user = [c if _key(u.name) == key else u for u in user]
        else:
            user.append(c)
        self._write_user(user)
        return c

    def remove(self, name: str) -> None:
        key = _key(name)
        if key in self._builtin:
            raise CommunityError("builtin_readonly", name=name)
        user = self._read_user()
        kept = [u for u in user if _key(u.name) != key]
        if len(kept) == len(user):
            raise CommunityError("not_found", name=name)
        self._write_user(kept)

    def save(self, communities: Iterable[TrustCommunity] | None = None) -> None:
        """Rewrite the user file (e.g. after a migration); ``None`` rewrites what is there."""
        items = self._read_user() if communities is None else [c.validated() for c in communities if not c.builtin]
        self._write_user(items)


def _copy(c: TrustCommunity) -> TrustCommunity:
    """A caller may change what it got (lists, extra) without touching the cached parse."""
    return dc_replace(c, anchors=list(c.anchors), tls_anchors=list(c.tls_anchors), servers=list(c.servers),
                      intermediates=list(c.intermediates), extra=jsonlimits.copy_json(c.extra))


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", (name or "").strip()).casefold()
