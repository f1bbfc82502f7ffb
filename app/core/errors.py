"""Typed errors with structured fields and no UI prose.

Every failure the user can meet is an ``UdapOnboardError`` subclass carrying a stable ``code``
(snake_case) and keyword ``fields`` (paths, URLs, statuses, excerpts; never a secret).
``app/ui/feedback.py`` turns (code, fields) into "what happened / what to do next", for the
GUI and the CLI alike, so the wording lives in one table.
"""

from __future__ import annotations

from typing import Any


class UdapOnboardError(Exception):
    """Base of every expected failure. ``code`` selects the explanation; ``fields`` fill it."""

    domain = "general"

    def __init__(self, code: str, /, **fields: Any) -> None:
        self.code = code
        self.fields = fields
        super().__init__(code)

    def __str__(self) -> str:  # safe: fields never hold secrets by construction
        if not self.fields:
            return self.code
        inner = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{self.code} ({inner})"

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "code": self.code,
                "fields": {k: _jsonable(v) for k, v in self.fields.items()}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class InputError(UdapOnboardError):
    """Something the user typed or chose is not acceptable (client URI, e-mail, name...)."""
    domain = "input"


class StorageError(UdapOnboardError):
    """A file of ours could not be read or written (permissions, disk, damaged content)."""
    domain = "storage"


class ProfileError(UdapOnboardError):
    """A profile is missing, already exists, or is damaged."""
    domain = "profile"


class CommunityError(UdapOnboardError):
    """A trust community definition is missing, invalid or incomplete."""
    domain = "community"


class SecretStoreError(UdapOnboardError):
    """The OS keyring is missing, locked, refused, or timed out; or a passphrase is wrong."""
    domain = "secrets"


class KeyContainerError(UdapOnboardError):
    """The private key container is missing, damaged, or cannot be decrypted."""
    domain = "key"


class CertificateError(UdapOnboardError):
    """A certificate file could not be read, or does not fit our key / client URI."""
    domain = "certificate"


class TrustError(UdapOnboardError):
    """A chain could not be validated against the community's anchors (report attached)."""
    domain = "trust"


class NetworkError(UdapOnboardError):
    """A request could not be completed: DNS, connect, TLS, timeout, size cap, redirect policy."""
    domain = "network"


class DiscoveryError(UdapOnboardError):
    """The server's UDAP metadata is absent, malformed, or its signed_metadata failed a check."""
    domain = "discovery"


class StatementError(UdapOnboardError):
    """The software statement cannot be built or signed (lint errors are reported, not raised)."""
    domain = "statement"


class RegistrationError(UdapOnboardError):
    """The registration endpoint refused or answered something unusable."""
    domain = "registration"


class TokenError(UdapOnboardError):
    """The token endpoint refused, or the token / FHIR response is unusable."""
    domain = "token"


class SandboxError(UdapOnboardError):
    """The practice community (local CA + server) could not start or act."""
    domain = "sandbox"


class JwsError(UdapOnboardError):
    """A compact JWS is malformed, uses a forbidden algorithm, or its signature or x5c is bad."""
    domain = "jws"
