"""Profiles: everything the wizard learned about one client, minus secrets, one folder each.

``<home>/profiles/<name>/profile.json`` (0600, in a 0700 folder) next to ``key.p12`` (encrypted).
Every save keeps the last good file as ``profile.json.prev`` so a damaged file is never the end.
"""

from __future__ import annotations

import errno
import json
import shutil
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any

from cryptography import x509

from app.core.community import certificate_fingerprint
from app.core import jsonlimits
from app.core.errors import InputError, ProfileError, StorageError
from app.core.storage import atomic_write, data_home, ensure_private_dir, read_bounded

PROFILE_FORMAT = 1
PROFILE_FILE = "profile.json"
PREV_FILE = PROFILE_FILE + ".prev"
DAMAGED_FILE = PROFILE_FILE + ".damaged"
KEY_FILE = "key.p12"
PROFILES_DIR = "profiles"
PROFILE_LIMIT = 4 * 2**20
NAME_MAX = 64
_NAME_EXTRA = set("0123456789-_. ")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)}
# Never stored, even if a server sends them back in a registration response.
SECRET_KEYS = frozenset({"client_secret", "access_token", "refresh_token", "id_token", "registration_access_token",
                         "password", "passphrase", "private_key"})


_LIST_FIELDS = frozenset({"contacts", "certificate_chain_pem", "servers", "scopes", "grant_types", "purpose_of_use"})


def validate_profile_name(name: str) -> str:
    """Profile names become folder names on every OS: letters, digits, ``-_. ``, 1-64 characters."""
    if not isinstance(name, str) or not name:
        raise InputError("bad_profile_name", name="", reason="empty")
    name = unicodedata.normalize("NFC", name)
    if len(name) > NAME_MAX:
        raise InputError("bad_profile_name", name=name[:NAME_MAX], reason="too_long", limit=NAME_MAX)
    for pos, ch in enumerate(name):
        if not (ch in _NAME_EXTRA or ch.isalpha()):
            raise InputError("bad_profile_name", name=name, reason="bad_character", position=pos, character=ch)
    if name[0] in ". " or name[-1] in ". ":
        raise InputError("bad_profile_name", name=name, reason="starts_or_ends_badly")
    if name.split(".", 1)[0].strip().casefold() in _WINDOWS_RESERVED:
        raise InputError("bad_profile_name", name=name, reason="reserved")
    return name


def registration_key(endpoint: str, community: str, iss: str) -> str:
    """``endpoint|community|iss``; a literal ``|`` (never legal in a URI) is stored percent-encoded."""
    parts = []
    for label, value in (("endpoint", endpoint), ("community", community), ("iss", iss)):
        if not isinstance(value, str) or not value.strip():
            raise ProfileError("bad_registration_key", field=label)
        parts.append(value.strip().replace("|", "%7C"))
    return "|".join(parts)


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if str(k).lower() not in SECRET_KEYS}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _iso(now: datetime) -> str:
    return now.astimezone(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Profile:
    """One client being onboarded. NO secrets: the key file is encrypted, its passphrase in the keyring."""

    name: str
    org_name: str = ""
    client_name: str = ""
    client_uri: str = ""
    contacts: list[str] = field(default_factory=list)            # "mailto:..." first
    org_id: str = ""                                              # hl7-b2b organization_id (a URI)
    key_type: str = ""                                            # keys.KeyType value
    key_file: str = ""                                            # relative to the profile folder
    key_source: str = ""                                          # "generated" | "pkcs12"
    csr_pem: str = ""
    certificate_chain_pem: list[str] = field(default_factory=list)  # leaf first
    community: str = ""                                           # TrustCommunity name
    community_uri: str = ""                                       # its URI, as sent in ?community=
    servers: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=lambda: ["client_credentials"])
    purpose_of_use: list[str] = field(default_factory=list)
    registrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_test: dict[str, Any] | None = None                      # {"client_id", "time", "endpoint"}
    step: str = "community"                                       # workflow.Step value last shown
    created: str = ""
    updated: str = ""
    extra: dict[str, Any] = field(default_factory=dict)          # unknown keys, kept verbatim

    # -- certificate -------------------------------------------------------------------------
    def leaf_certificate(self) -> x509.Certificate | None:
        """The saved leaf, or None when absent or unreadable (workflow treats both as 'not done')."""
        if not self.certificate_chain_pem:
            return None
        try:
            return x509.load_pem_x509_certificate(self.certificate_chain_pem[0].encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return None

    def certificate_fingerprint(self) -> str | None:
        leaf = self.leaf_certificate()
        return certificate_fingerprint(leaf) if leaf is not None else None

    # -- registrations -----------------------------------------------------------------------
    def record_registration(self, endpoint: str, community: str, iss: str, record: dict[str, Any],
                            now: datetime | None = None) -> dict[str, Any]:
        """Keep what the server granted for (endpoint, community, iss); replaces an older record."""
        if not isinstance(record, dict) or not isinstance(record.get("client_id"), str) or not record["client_id"]:
            raise ProfileError("bad_registration_record", missing="client_id")
        key = registration_key(endpoint, community, iss)
        clean = _without_secrets(dict(record))
        try:
            json.dumps(clean)
        except (TypeError, ValueError):
            raise ProfileError("bad_registration_record", reason="not_json") from None
        if "time" not in clean:
            clean["time"] = _iso(now or datetime.now(timezone.utc))
        clean.update(endpoint=endpoint.strip(), community=community.strip(), iss=iss.strip())
        self.registrations[key] = clean
        return clean

    def registration_for(self, endpoint: str, community: str, iss: str) -> dict[str, Any] | None:
        return self.registrations.get(registration_key(endpoint, community, iss))

    def forget_registration(self, endpoint: str, community: str, iss: str) -> bool:
        """Drop the record (after a cancel); True when there was one."""
        return self.registrations.pop(registration_key(endpoint, community, iss), None) is not None

    def registrations_in(self, *communities: str) -> list[dict[str, Any]]:
        """Records for any of the given community names/URIs (records are keyed by what was sent)."""
        wanted = {c for c in communities if c}
        return [r for r in self.registrations.values() if r.get("community") in wanted]

    def record_token_test(self, client_id: str, endpoint: str, now: datetime | None = None) -> None:
        self.token_test = {"client_id": client_id, "endpoint": endpoint,
                           "time": _iso(now or datetime.now(timezone.utc))}

    # -- JSON ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name != "extra":
                out[f.name] = getattr(self, f.name)
        out["format"] = PROFILE_FORMAT
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Profile":
        """Type-checked; a wrong type raises ValueError(field) for the store to report as damaged."""
        known = {f.name for f in fields(cls) if f.name != "extra"}
        values: dict[str, Any] = {}
        for key in known & data.keys():
            v = data[key]
            if key in _LIST_FIELDS:
                ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
            elif key == "registrations":
                ok = isinstance(v, dict) and all(isinstance(x, dict) for x in v.values())
            elif key == "token_test":
                ok = v is None or isinstance(v, dict)
            else:
                ok = isinstance(v, str)
            if not ok:
                raise ValueError(key)
            values[key] = v
        if not values.get("name"):
            raise ValueError("name")
        extra = {k: v for k, v in data.items() if k not in known and k != "format"}
        return cls(**values, extra=extra)


class ProfileStore:
    """Profiles on disk: one private folder each, atomic saves, a ``.prev`` to fall back on."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = data_home(home)
        self.root = self.home / PROFILES_DIR

    def path(self, name: str) -> Path:
        """The profile's folder (holds profile.json and the key container)."""
        return self.root / validate_profile_name(name)

    def key_path(self, profile: Profile) -> Path:
        rel = PurePath(profile.key_file or KEY_FILE)
        if rel.is_absolute() or ".." in rel.parts or len(rel.parts) != 1:
            raise ProfileError("bad_key_file", name=profile.name, key_file=profile.key_file)
        return self.path(profile.name) / rel

    def exists(self, name: str) -> bool:
        folder = self.path(name)
        return (folder / PROFILE_FILE).exists() or (folder / PREV_FILE).exists()

    def list(self) -> list[str]:
        try:
            entries = [p for p in self.root.iterdir() if p.is_dir()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError("file_unreadable", path=str(self.root),
                               reason=errno.errorcode.get(exc.errno or 0, type(exc).__name__)) from None
        names = []
        for p in entries:
            try:
                validate_profile_name(p.name)
            except InputError:
                continue
            if (p / PROFILE_FILE).exists() or (p / PREV_FILE).exists():
                names.append(p.name)
        return sorted(names, key=str.casefold)

    def create(self, profile: Profile, now: datetime | None = None) -> Profile:
        name = validate_profile_name(profile.name)
        wanted = name.casefold()  # macOS and Windows folders ignore case
        if any(n.casefold() == wanted for n in self.list()) or self.exists(name):
            raise ProfileError("exists", name=name)
        now = now or datetime.now(timezone.utc)
        profile.name = name
        profile.created = profile.created or _iso(now)
        return self.save(profile, now=now)

    def save(self, profile: Profile, now: datetime | None = None) -> Profile:
        """Write atomically; the current file becomes ``.prev`` only if it is itself readable."""
        profile.name = validate_profile_name(profile.name)
        now = now or datetime.now(timezone.utc)
        stamp = _iso(now)
        profile.created = profile.created or stamp
        folder = ensure_private_dir(self.path(profile.name))
        target = folder / PROFILE_FILE
        current = self._saved(target)  # one read and one parse serve both questions below
        doc = profile.to_dict()
        if current is not None and {**current, "updated": None} == {**doc, "updated": None}:
            profile.updated = current.get("updated")  # nothing changed: keep the file, and .prev one version back
            return profile
        profile.updated = doc["updated"] = stamp
        data = json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        if b"PRIVATE KEY" in data:
            raise ProfileError("secret_in_profile", name=profile.name)
        atomic_write(target, data, keep_previous=current is not None)
        return profile

    def _saved(self, target: Path, raw: bytes | None = None) -> dict | None:
        """The saved document (read now, or ``raw`` already read) if it loads as a profile: only then
        is it worth keeping as ``.prev``."""
        try:
            return self._parse_bytes(read_bounded(target, PROFILE_LIMIT) if raw is None else raw, target,
                                     backup=None)[0]
        except (ProfileError, StorageError):
            return None

    def load(self, name: str) -> Profile:
        folder = self.path(name)
        target = folder / PROFILE_FILE
        if not folder.is_dir():
            raise ProfileError("not_found", name=name)
        profile = self._parse(target, backup=self._backup(folder))
        profile.name = folder.name
        return profile

    def restore_previous(self, name: str) -> Profile:
        """Go back to ``profile.json.prev``; a damaged current file is kept as ``.damaged`` for support."""
        folder = self.path(name)
        prev, target = folder / PREV_FILE, folder / PROFILE_FILE
        if not prev.exists():
            raise ProfileError("no_backup", name=name, path=str(prev))
        try:
            self._parse(prev, backup=None)
        except ProfileError as exc:
            raise ProfileError("backup_damaged", name=name, path=str(prev), reason=exc.fields.get("reason")) from None
        good_prev = read_bounded(prev, PROFILE_LIMIT)
        current = self._raw(target)
        current_good = current is not None and self._saved(target, current) is not None
        if current is not None and not current_good:
            atomic_write(folder / DAMAGED_FILE, current)
        atomic_write(target, good_prev)
        if current is not None and current_good:
            atomic_write(prev, current)  # a swap: restoring twice undoes the restore
        return self.load(name)

    def delete(self, name: str) -> None:
        """Remove the folder (profile and encrypted key); the caller deletes the keyring entry."""
        folder = self.path(name)
        if not folder.is_dir():
            raise ProfileError("not_found", name=name)
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            raise StorageError("write_failed", path=str(folder),
                               reason=errno.errorcode.get(exc.errno or 0, type(exc).__name__)) from None

    # -- internals -----------------------------------------------------------------------------
    @staticmethod
    def _backup(folder: Path) -> str | None:
        prev = folder / PREV_FILE
        return str(prev) if prev.exists() else None

    @staticmethod
    def _raw(path: Path) -> bytes | None:
        try:
            return read_bounded(path, PROFILE_LIMIT)
        except StorageError:
            return None

    def _is_good(self, path: Path) -> bool:
        return self._saved(path) is not None

    def _parse(self, path: Path, backup: str | None) -> Profile:
        try:
            raw = read_bounded(path, PROFILE_LIMIT)
        except StorageError as exc:
            if exc.code == "file_not_found" and backup is None:
                raise ProfileError("not_found", name=path.parent.name) from None
            if exc.code in ("file_not_found", "file_empty", "file_too_large"):
                raise ProfileError("damaged", path=str(path), backup=backup, reason=exc.code) from None
            raise
        return self._parse_bytes(raw, path, backup)[1]

    @staticmethod
    def _parse_bytes(raw: bytes, path: Path, backup: str | None) -> tuple[dict[str, Any], Profile]:
        try:
            doc = jsonlimits.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ProfileError("damaged", path=str(path), backup=backup, reason="not_json") from None
        if not isinstance(doc, dict):
            raise ProfileError("damaged", path=str(path), backup=backup, reason="not_object")
        fmt = doc.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
            raise ProfileError("damaged", path=str(path), backup=backup, reason="no_format")
        if fmt > PROFILE_FORMAT:
            raise ProfileError("newer_format", path=str(path), format=fmt, supported=PROFILE_FORMAT)
        try:
            return doc, Profile.from_dict(doc)
        except ValueError as exc:
            raise ProfileError("damaged", path=str(path), backup=backup, reason="bad_field",
                               field=str(exc)) from None
