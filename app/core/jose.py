"""Compact JWS with an ``x5c`` header: signing, decoding and verification for UDAP.

joserfc does the JOSE work. Two UDAP-specific traps are handled here once:
- joserfc caps a JWS header at 512 bytes by default; a header with an x5c chain is ~3 KB, so the
  registry used for UDAP raises the cap (to a bounded 64 KiB).
- x5c entries are *standard* base64 with padding (RFC 7515 §4.1.6), not base64url.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.core import jsonlimits
from app.core.errors import JwsError

# Algorithms we will ever sign or accept. none/HS* are never accepted (RFC 8725 §3.1).
ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
MAX_HEADER_BYTES = 64 * 1024
MAX_TOKEN_BYTES = 512 * 1024


def _registry(algorithms: Sequence[str]):
    from joserfc.jws import JWSRegistry

    reg = JWSRegistry(algorithms=list(algorithms))
    reg.max_header_length = MAX_HEADER_BYTES
    reg.max_payload_length = MAX_TOKEN_BYTES
    return reg


def algorithms_for_key(key) -> list[str]:
    """Algorithms this key can sign with, most preferred first (RS256 works with every FAST server)."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return ["RS256", "RS384"]
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        name = key.curve.name
        if name == "secp256r1":
            return ["ES256"]
        if name == "secp384r1":
            return ["ES384"]
    raise JwsError("unsupported_key_type", key_type=type(key).__name__)


def choose_algorithm(key, server_supported: Iterable[str] | None) -> str:
    """First algorithm we prefer that the server lists; without a list, our first choice."""
    ours = algorithms_for_key(key)
    if server_supported is None:
        return ours[0]
    theirs = list(server_supported)
    for alg in ours:
        if alg in theirs:
            return alg
    raise JwsError("no_common_algorithm", ours=ours, server=theirs)


def x5c_for(chain: Sequence[x509.Certificate]) -> list[str]:
    """Standard base64 DER, leaf first, no line breaks."""
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in chain]


def new_jti() -> str:
    """256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def _jwk_private(key):
    from joserfc.jwk import ECKey, RSAKey

    if isinstance(key, rsa.RSAPrivateKey):
        return RSAKey.import_key(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(key)
    raise JwsError("unsupported_key_type", key_type=type(key).__name__)


def _jwk_public(key):
    from joserfc.jwk import ECKey, RSAKey

    if isinstance(key, rsa.RSAPublicKey):
        return RSAKey.import_key(key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ECKey.import_key(key)
    raise JwsError("unsupported_key_type", key_type=type(key).__name__)


def sign(claims: dict[str, Any], key, chain: Sequence[x509.Certificate], alg: str | None = None,
         extra_header: dict[str, Any] | None = None) -> str:
    """Sign ``claims`` as a compact JWS whose header carries ``x5c`` for ``chain`` (leaf first)."""
    from joserfc import jws

    alg = alg or algorithms_for_key(key)[0]
    if alg not in algorithms_for_key(key):
        raise JwsError("algorithm_does_not_fit_key", alg=alg, key_algs=algorithms_for_key(key))
    header: dict[str, Any] = {"alg": alg}
    if chain:
        header["x5c"] = x5c_for(chain)
    if extra_header:
        header.update(extra_header)
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return jws.serialize_compact(header, payload, _jwk_private(key), algorithms=[alg], registry=_registry([alg]))


def _b64url_json(part: str, what: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return jsonlimits.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise JwsError("malformed", part=what) from None


@dataclass
class DecodedJws:
    """A compact JWS split and decoded, signature not yet checked."""

    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    certificates: list[x509.Certificate] = field(default_factory=list)

    @property
    def alg(self) -> str | None:
        value = self.header.get("alg")
        return value if isinstance(value, str) else None


def decode(token: str) -> DecodedJws:
    """Split and decode header and claims; parse ``x5c`` when present. No signature check."""
    if not isinstance(token, str) or not token:
        raise JwsError("malformed", part="token")
    if len(token) > MAX_TOKEN_BYTES:
        raise JwsError("too_large", size=len(token), limit=MAX_TOKEN_BYTES)
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise JwsError("malformed", part="compact serialization", parts=len(parts))
    header = _b64url_json(parts[0], "header")
    claims = _b64url_json(parts[1], "payload")
    if not isinstance(header, dict):
        raise JwsError("malformed", part="header")
    if not isinstance(claims, dict):
        raise JwsError("payload_not_object")
    return DecodedJws(token=token.strip(), header=header, claims=claims,
                      certificates=parse_x5c(header) if "x5c" in header else [])


def parse_x5c(header: dict[str, Any]) -> list[x509.Certificate]:
    """Certificates from ``x5c``: a non-empty array of standard-base64 DER (base64url is refused)."""
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise JwsError("x5c_missing")
    certs = []
    for index, entry in enumerate(x5c):
        if not isinstance(entry, str):
            raise JwsError("x5c_not_base64", index=index)
        if "-" in entry or "_" in entry:
            raise JwsError("x5c_base64url", index=index)
        try:
            der = base64.b64decode(entry, validate=True)
        except (binascii.Error, ValueError):
            raise JwsError("x5c_not_base64", index=index) from None
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise JwsError("x5c_bad_certificate", index=index) from None
    return certs


def verify(token: str | DecodedJws, allowed_algs: Sequence[str]) -> DecodedJws:
    """Check algorithm against ``allowed_algs`` and the signature against x5c[0]'s public key."""
    from joserfc import jws
    from joserfc.errors import JoseError

    decoded = token if isinstance(token, DecodedJws) else decode(token)
    alg = decoded.alg
    if alg is None:
        raise JwsError("alg_missing")
    if alg == "none" or alg.upper().startswith("HS") or alg not in ASYMMETRIC_ALGS:
        raise JwsError("alg_forbidden", alg=alg)
    if alg not in allowed_algs:
        raise JwsError("alg_not_allowed", alg=alg, allowed=list(allowed_algs))
    if not decoded.certificates:
        raise JwsError("x5c_missing")
    public = decoded.certificates[0].public_key()
    try:
        if alg not in algorithms_for_key(public) + (["RS512", "PS256"] if isinstance(public, rsa.RSAPublicKey) else []):
            raise JwsError("algorithm_does_not_fit_key", alg=alg)
        jws.deserialize_compact(decoded.token, _jwk_public(public), algorithms=[alg], registry=_registry([alg]))
    except JoseError as exc:
        raise JwsError("bad_signature", reason=type(exc).__name__) from None
    return decoded
