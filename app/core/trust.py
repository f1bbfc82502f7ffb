"""Validate a certificate chain against a trust community's anchors, check CRL revocation, and
explain the result with one row per certificate (leaf first, anchor last).

Path building is cryptography's ``x509.verification`` (the library we already ship; no hand-written
RFC 5280 walk). It neither checks revocation nor says which certificate broke, so CRLs are checked
here afterwards and, when it fails, a diagnostic walk repeats the issuer search step by step
(names, signatures, validity, CA flag) to name the certificate at fault and the reason.

ExtensionPolicy tuning, and why:
- End entity: UDAP client certificates sign JWTs, they are not TLS certificates. The IG defines no
  EKU; communities issue leaves without EKU or with EKUs lacking clientAuth, and the webpki client
  verifier demands clientAuth whenever EKU is present. So any EKU (or none) is permitted. The
  client's identity is a URI SAN; whether it equals the client URI is checked by certs.py and
  discovery, so here SAN may hold any names (URIs included) or be absent.
- CA: webpki defaults, except basicConstraints may be non-critical (cA must still be TRUE): roots of
  private healthcare PKIs often lack the critical flag and the servers' .NET/Java validators accept it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID
from cryptography.x509.verification import (Criticality, ExtensionPolicy, PolicyBuilder, Store,
                                             VerificationError)

from app.core.certs import fingerprint, is_ca
from app.core.jsonlimits import copy_json
from app.core.errors import TrustError, UdapOnboardError

Fetcher = Callable[[str, str], bytes]  # fetch(url, kind) with kind "crl" or "aia"; raises NetworkError

MAX_AIA_FETCHES = 5     # per validation: a broken or hostile AIA web cannot make us crawl
MAX_PATH = 8            # certificates in a path, leaf and anchor included
MAX_CERTS_PER_AIA = 10
MAX_CRL_BYTES = 5 * 2**20
# When every CRL URL of a certificate failed, the most telling failure is reported.
_CRL_FAILURES = ("crl_bad_signature", "crl_wrong_issuer", "crl_stale", "crl_unavailable")


@dataclass
class TrustRow:
    """One certificate's verdict; ``reason`` is a stable code explained by ui/feedback.py."""

    subject: str
    fingerprint: str
    status: str  # "ok" | "error" | "warning"
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What asdict gave (a deep copy), written out: asdict's generic walk was ~50 µs a row."""
        return {"subject": self.subject, "fingerprint": self.fingerprint, "status": self.status,
                "reason": self.reason, "detail": copy_json(self.detail)}


@dataclass
class TrustReport:
    """``chain`` lines up with ``rows``: the verified path, or on failure the path as far as it went."""

    ok: bool
    rows: list[TrustRow]
    chain: list[x509.Certificate]

    def rows_with(self, status: str) -> list[TrustRow]:
        return [r for r in self.rows if r.status == status]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows": [r.to_dict() for r in self.rows]}


class CrlCache:
    """CRLs kept until their nextUpdate so repeated checks do not hit the CRL server again.

    CRLs are public signed data, so a disk copy (``directory``) needs no secrecy; it is still
    written atomically with owner-only permissions like every file of ours.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, x509.CertificateRevocationList] = {}
        # url -> (that CRL object, fingerprint of the issuer certificate whose key verified it)
        self._verified: dict[str, tuple[x509.CertificateRevocationList, str]] = {}

    def get(self, url: str, now: datetime) -> x509.CertificateRevocationList | None:
        now = _utc(now)
        crl = self._memory.get(url)
        if crl is None:  # never `or`: a CRL with no entries has len() 0 and is falsy
            crl = self._read(url)
        fresh = crl is not None and crl.next_update_utc is not None and crl.last_update_utc <= now < crl.next_update_utc
        return crl if fresh else None

    def put(self, url: str, crl: x509.CertificateRevocationList, verified_by: str | None = None) -> None:
        """``verified_by``: fingerprint of the issuer certificate this CRL's signature was checked with."""
        if crl.next_update_utc is None:  # no expiry date: nothing says how long it may be reused
            return
        self._memory[url] = crl
        self._verified.pop(url, None)
        if verified_by is not None:
            self._verified[url] = (crl, verified_by)
        if self.directory is None:
            return
        from app.core.storage import atomic_write, ensure_private_dir
        try:
            ensure_private_dir(self.directory)
            atomic_write(self._path(url), crl.public_bytes(serialization.Encoding.DER))
        except UdapOnboardError:
            pass  # a cache that cannot be written only makes the next check slower

    def _path(self, url: str) -> Path:
        return self.directory / (hashlib.sha256(url.encode()).hexdigest() + ".crl")

    def _read(self, url: str) -> x509.CertificateRevocationList | None:
        if self.directory is None or not self._path(url).exists():
            return None
        from app.core.storage import read_bounded
        try:
            crl = _parse_crl(read_bounded(self._path(url), MAX_CRL_BYTES))
        except UdapOnboardError:  # unreadable copy: behave as if absent, the CRL is fetched again
            return None
        if crl is not None:
            self._memory[url] = crl
            self._verified.pop(url, None)  # read from disk: its signature is checked before use
        return crl

    def verified(self, url: str, crl: x509.CertificateRevocationList, issuer_fingerprint: str) -> bool:
        """True when this very CRL object passed its signature check with this issuer's key.

        A CRL and a certificate never change, so checking the same pair again (~0.2 ms for an EC
        signature, on every discovery) proves nothing new; the name and dates are still checked.
        """
        entry = self._verified.get(url)
        return entry is not None and entry[0] is crl and entry[1] == issuer_fingerprint

    def note_verified(self, url: str, crl: x509.CertificateRevocationList, issuer_fingerprint: str) -> None:
        if self._memory.get(url) is crl:
            self._verified[url] = (crl, issuer_fingerprint)


def validate_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                   anchors: Sequence[x509.Certificate], *, now: datetime | None = None,
                   fetch: Fetcher | None = None, revocation: str = "hard",
                   crl_cache: CrlCache | None = None) -> TrustReport:
    """Build leaf -> anchor (given intermediates, then AIA), check CRLs below the anchor, explain.

    Anchors come only from ``anchors``; a self-signed certificate among ``intermediates`` or
    fetched by AIA is never trusted. ``revocation="soft"`` turns "revocation status unknown"
    into a warning; a revoked certificate is an error in both modes.
    """
    now = _utc(now or datetime.now(timezone.utc))
    if revocation not in ("hard", "soft"):
        raise TrustError("unknown_revocation_mode", revocation=revocation)
    fps: dict[int, str] = {}  # by id(): every certificate here stays alive until we return

    def fp(cert: x509.Certificate) -> str:  # ~15 µs each, and each certificate was asked for 3-4 times
        found = fps.get(id(cert))
        if found is None:
            found = fps[id(cert)] = fingerprint(cert)
        return found

    anchors = _dedupe(anchors, fp)
    if not anchors:
        raise TrustError("no_anchors")
    leaf_fp = fp(leaf)
    given = [c for c in _dedupe(intermediates, fp) if fp(c) != leaf_fp]

    chain, error = _build_path(anchors, now, leaf, given)
    walk = None
    if chain is None:
        walk = _Walk(leaf, given, anchors, now, fetch)
        walk.run()
        if walk.fetched:
            chain, error = _build_path(anchors, now, leaf, given + walk.fetched)

    if chain is not None:
        path, problems, linked = chain, {}, {fp(c) for c in chain[:-1]}
    else:
        path, problems, linked = walk.path, walk.problems, walk.linked
        if not problems:  # the builder refused something the walk does not model (extension policy)
            culprit = _locate_policy_failure(path, now, str(error))
            problems = {fp(path[culprit]): [("policy_rejected", {"message": str(error)})]}

    anchor_fps = {fp(a) for a in anchors}
    fetched_fps = {fp(c) for c in walk.fetched} if walk else set()
    rows = []
    for i, cert in enumerate(path):
        cert_fp = fp(cert)
        source = ("leaf" if i == 0 else "anchor" if cert_fp in anchor_fps
                  else "aia" if cert_fp in fetched_fps else "given")
        detail = _describe(cert, source)
        found = problems.get(cert_fp, [])
        if found:
            reason, extra = found[0]
            detail.update(extra)
            if len(found) > 1:
                detail["also"] = [r for r, _ in found[1:]]
            status = "error"
        elif cert_fp in anchor_fps:
            status, reason = "ok", "anchor"
        elif cert_fp in linked:
            status, reason, extra = _revocation(cert, path[i + 1], now, fetch, crl_cache, revocation == "soft",
                                                fp(path[i + 1]))
            detail.update(extra)
        else:
            status, reason = "ok", "ok"
        rows.append(TrustRow(cert.subject.rfc4514_string(), cert_fp, status, reason, detail))
    ok = chain is not None and all(r.status != "error" for r in rows)
    return TrustReport(ok=ok, rows=rows, chain=list(path))


# --- path building -------------------------------------------------------------------------------

def _require_ca(policy, cert, bc: x509.BasicConstraints) -> None:
    if not bc.ca:
        raise ValueError("basicConstraints.cA is false")


def _verifier(anchors: list[x509.Certificate], now: datetime):
    ee = (ExtensionPolicy.webpki_defaults_ee()
          .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
          .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None))
    ca = ExtensionPolicy.webpki_defaults_ca().require_present(x509.BasicConstraints, Criticality.AGNOSTIC,
                                                               _require_ca)
    return (PolicyBuilder().store(Store(anchors)).time(now)
            .extension_policies(ca_policy=ca, ee_policy=ee).build_client_verifier())


def _build_path(anchors, now, leaf, pool) -> tuple[list[x509.Certificate] | None, VerificationError | None]:
    try:
        return list(_verifier(anchors, now).verify(leaf, pool).chain), None
    except VerificationError as exc:
        return None, exc


def _locate_policy_failure(path: list[x509.Certificate], now: datetime, message: str) -> int:
    """Index of the certificate the builder refused: named in its message, else the first
    certificate that breaks the path when the path is cut off (trusted) just below it."""
    for i, cert in enumerate(path):
        if repr(cert) in message:
            return i
    for i in range(1, len(path)):
        chain, _ = _build_path([path[i]], now, path[0], path[1:i])
        if chain is None:
            return i
    return 0


class _Walk:
    """The issuer search done by hand, to say which certificate fails and why (and to chase AIA)."""

    def __init__(self, leaf, given, anchors, now, fetch):
        self.anchors, self.now, self.fetch = anchors, now, fetch
        self.anchor_fps = {fingerprint(a) for a in anchors}
        self.pool = [c for c in given if fingerprint(c) not in self.anchor_fps]
        self.fetched: list[x509.Certificate] = []
        self.fetches = 0
        self.tried: set[str] = set()
        self.path = [leaf]
        self.problems: dict[str, list[tuple[str, dict]]] = {}
        self.linked: set[str] = set()  # certificates whose signature the next one in path verifies

    def _problem(self, cert, reason: str, **detail) -> None:
        self.problems.setdefault(fingerprint(cert), []).append((reason, detail))

    def run(self) -> None:
        cur = self.path[0]
        while True:
            window = _window_problem(cur, self.now)
            if window:
                self._problem(cur, window)
            if fingerprint(cur) in self.anchor_fps:
                return
            issuer_name = cur.issuer.rfc4514_string()
            if len(self.path) >= MAX_PATH:
                self._problem(cur, "missing_intermediate", issuer=issuer_name, path_too_long=True)
                return
            issuer, named = self._issuer_of(cur)
            aia_errors: list[dict] = []
            self_issued = cur.issuer == cur.subject
            if issuer is None and not self_issued:
                aia_errors = self._chase_aia(cur)
                issuer, named = self._issuer_of(cur)
            if issuer is not None:
                self.linked.add(fingerprint(cur))
            elif self_issued:
                self._problem(cur, "untrusted_root")
                return
            elif named:  # right name, wrong key: forged, damaged, or issued by a re-keyed CA
                self._problem(cur, "bad_signature", issuer=issuer_name)
                issuer = named[0]
            else:
                self._problem(cur, "missing_intermediate", issuer=issuer_name, aia_urls=_aia_urls(cur),
                              aia_errors=aia_errors)
                return
            if not is_ca(issuer):
                self._problem(issuer, "not_a_ca", issued=cur.subject.rfc4514_string())
            self.path.append(issuer)
            cur = issuer

    def _issuer_of(self, cert):
        """(verified issuer or None, every candidate with the right name); anchors first."""
        seen = {fingerprint(c) for c in self.path}
        by_anchor = [a for a in self.anchors if a.subject == cert.issuer and fingerprint(a) not in seen]
        by_pool = [c for c in self.pool if c.subject == cert.issuer and fingerprint(c) not in seen]
        for group in (by_anchor, by_pool):
            good = [c for c in group if _signed_by(cert, c)]
            if good:
                good.sort(key=lambda c: _window_problem(c, self.now) is not None)  # valid ones first
                return good[0], by_anchor + by_pool
        return None, by_anchor + by_pool

    def _chase_aia(self, cert) -> list[dict]:
        errors = []
        for url in _aia_urls(cert):
            if url in self.tried:
                continue
            if self.fetch is None or self.fetches >= MAX_AIA_FETCHES:
                errors.append({"url": url, "error": "no_fetcher" if self.fetch is None else "fetch_limit"})
                continue
            self.tried.add(url)
            self.fetches += 1
            try:
                certs = _parse_certs(self.fetch(url, "aia"))
            except UdapOnboardError as exc:
                errors.append({"url": url, "error": exc.code})
                continue
            if not certs:
                errors.append({"url": url, "error": "unreadable"})
                continue
            known = {fingerprint(c) for c in self.pool} | self.anchor_fps  # anchors are matched only from `anchors`
            for c in certs[:MAX_CERTS_PER_AIA]:
                if fingerprint(c) not in known:
                    self.pool.append(c)
                    self.fetched.append(c)
            if self._issuer_of(cert)[0] is not None:
                break
            errors.append({"url": url, "error": "not_the_issuer"})
        return errors


# --- revocation ----------------------------------------------------------------------------------

def _revocation(cert, issuer, now, fetch, cache, soft, issuer_fp: str) -> tuple[str, str, dict]:
    urls = _crl_urls(cert)
    if urls is None:
        return "warning", "no_crl_distribution_point", {}
    attempts: list[dict] = []
    for url in urls:
        if not url.lower().startswith(("http://", "https://")):
            attempts.append({"url": url, "reason": "crl_unavailable", "error": "unsupported_scheme"})
            continue
        crl = cache.get(url, now) if cache is not None else None
        if crl is not None:
            signed = cache.verified(url, crl, issuer_fp)
            if _crl_problem(crl, issuer, now, signature_checked=signed):
                crl = None
            elif not signed:
                cache.note_verified(url, crl, issuer_fp)
        from_cache = crl is not None
        if crl is None:
            crl, failure = _download_crl(url, fetch)
        if crl is None:
            attempts.append({"url": url, "reason": "crl_unavailable", "error": failure})
            continue
        bad = None if from_cache else _crl_problem(crl, issuer, now)  # a cached one was checked just above
        if bad:
            attempts.append({"url": url, **bad})
            continue
        if cache is not None and not from_cache:
            cache.put(url, crl, verified_by=issuer_fp)
        info = {"crl_url": url, "crl_next_update": _iso(crl.next_update_utc), "crl_from_cache": from_cache}
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is None:
            return "ok", "ok", info
        why = _extension(entry, x509.CRLReason)
        return "error", "revoked", {**info, "revocation_date": _iso(entry.revocation_date_utc),
                                    "revocation_reason": why and why.reason.value}
    if not attempts:
        attempts.append({"url": None, "reason": "crl_unavailable", "error": "no_url"})
    reason = min((a["reason"] for a in attempts), key=_CRL_FAILURES.index)
    return ("warning" if soft else "error"), reason, {"crl_attempts": attempts}


def _download_crl(url, fetch) -> tuple[x509.CertificateRevocationList | None, str | None]:
    if fetch is None:
        return None, "no_fetcher"
    try:
        data = fetch(url, "crl")
    except UdapOnboardError as exc:
        return None, exc.code
    crl = _parse_crl(data)
    return (crl, None) if crl is not None else (None, "unreadable")


def _crl_problem(crl, issuer, now, signature_checked: bool = False) -> dict | None:
    if crl.issuer != issuer.subject:
        return {"reason": "crl_wrong_issuer", "crl_issuer": crl.issuer.rfc4514_string()}
    if not signature_checked:
        try:
            signed = crl.is_signature_valid(issuer.public_key())
        except (TypeError, ValueError, UnsupportedAlgorithm):
            signed = False
        if not signed:
            return {"reason": "crl_bad_signature"}
    times = {"crl_this_update": _iso(crl.last_update_utc), "crl_next_update": _iso(crl.next_update_utc)}
    if now < crl.last_update_utc or (crl.next_update_utc is not None and now >= crl.next_update_utc):
        return {"reason": "crl_stale", **times}
    return None


# --- small certificate facts ---------------------------------------------------------------------

def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _dedupe(certs, fp=None) -> list[x509.Certificate]:
    fp = fp or fingerprint
    return list({fp(c): c for c in certs}.values())


def _describe(cert, source: str) -> dict[str, Any]:
    return {"issuer": cert.issuer.rfc4514_string(), "serial": format(cert.serial_number, "x"),
            "not_before": _iso(cert.not_valid_before_utc), "not_after": _iso(cert.not_valid_after_utc),
            "source": source}


def _window_problem(cert, now) -> str | None:
    return ("not_yet_valid" if now < cert.not_valid_before_utc
            else "expired" if now > cert.not_valid_after_utc else None)


def _signed_by(cert, issuer) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _extension(cert, kind):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _aia_urls(cert) -> list[str]:
    return [d.access_location.value for d in _extension(cert, x509.AuthorityInformationAccess) or []
            if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


def _crl_urls(cert) -> list[str] | None:
    """None when the certificate has no CRL distribution point at all."""
    points = _extension(cert, x509.CRLDistributionPoints)
    if points is None:
        return None
    return [n.value for p in points for n in (p.full_name or []) if isinstance(n, x509.UniformResourceIdentifier)]


def _parse_certs(data: bytes) -> list[x509.Certificate]:
    """AIA answers are DER, PEM, or a certs-only PKCS#7 (RFC 5280 §4.2.2.1), in either encoding."""
    if b"-----BEGIN" in data:
        loaders = (x509.load_pem_x509_certificates, pkcs7.load_pem_pkcs7_certificates)
    else:
        loaders = (lambda d: [x509.load_der_x509_certificate(d)], pkcs7.load_der_pkcs7_certificates)
    for load in loaders:
        try:
            return list(load(data))
        except (ValueError, UnsupportedAlgorithm):
            continue
    return []


def _parse_crl(data: bytes) -> x509.CertificateRevocationList | None:
    load = x509.load_pem_x509_crl if b"-----BEGIN" in data else x509.load_der_x509_crl
    try:
        return load(data)
    except ValueError:
        return None
