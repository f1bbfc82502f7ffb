"""Certificate path and CRL validation from the practice server's side (DCR §4.2, SM §3.2).

The server's own check, independent of the client's (app.core.trust): a path from x5c (or, in
aia-only mode, from AIA caIssuers) to the community anchor, then a hard-fail CRL check of every
certificate below the anchor. A failure says which certificate and why, in the refusal text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Sequence

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from app.core.errors import UdapOnboardError
from app.sandbox.community import COMMUNITY_URI

MAX_AIA_HOPS = 4
MAX_CHAIN_DEPTH = 4  # intermediates between leaf and anchor
Fetcher = Callable[[str, str], bytes]


class ChainFailure(Exception):
    """The certificate chain is not trusted; the message says which certificate and why."""


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.subject.rfc4514_string()


def _urls(cert: x509.Certificate, kind: str) -> list[str]:
    try:
        if kind == "aia":
            value = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
            names = [d.access_location for d in value if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
        else:
            value = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            names = [n for dp in value for n in (dp.full_name or [])]
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [n.value for n in names if isinstance(n, x509.UniformResourceIdentifier)
            and n.value.lower().startswith(("http://", "https://"))]


def _fetch_object(fetch: Fetcher, url: str, kind: str, loaders):
    data = fetch(url, kind)
    for loader in loaders:
        try:
            return loader(data)
        except ValueError:
            continue
    raise ValueError("not parseable")


def _through_aia(leaf: x509.Certificate, anchors: Sequence[x509.Certificate], fetch: Fetcher) -> list:
    """Intermediates found by following caIssuers from the leaf, as AIA-only servers do."""
    found, current, anchor_names = [], leaf, {a.subject for a in anchors}
    for _ in range(MAX_AIA_HOPS):
        if current.issuer in anchor_names:
            return found
        urls = _urls(current, "aia")
        if not urls:
            raise ChainFailure(f"'{_cn(current)}' has no AIA caIssuers URL, and this server builds the chain "
                               "only through AIA (it ignores the intermediates in x5c)")
        try:
            current = _fetch_object(fetch, urls[0], "aia", (x509.load_der_x509_certificate,
                                                             x509.load_pem_x509_certificate))
        except (UdapOnboardError, ValueError, OSError):
            raise ChainFailure(f"the AIA caIssuers URL {urls[0]} of '{_cn(leaf)}' could not be fetched") from None
        found.append(current)
    raise ChainFailure(f"following AIA from '{_cn(leaf)}' did not reach a trust anchor in {MAX_AIA_HOPS} steps")


def _check_crl(cert: x509.Certificate, issuer: x509.Certificate, now: datetime, fetch: Fetcher) -> None:
    urls = _urls(cert, "crl")
    if not urls:
        raise ChainFailure(f"'{_cn(cert)}' has no CRL distribution point, so its revocation cannot be checked")
    problem = ""
    for url in urls:
        try:
            crl = _fetch_object(fetch, url, "crl", (x509.load_der_x509_crl, x509.load_pem_x509_crl))
        except (UdapOnboardError, OSError) as exc:
            problem = f"the CRL of '{_cn(cert)}' at {url} could not be fetched ({getattr(exc, 'code', type(exc).__name__)})"
            continue
        except ValueError:
            problem = f"{url} (CRL of '{_cn(cert)}') is not a CRL"
            continue
        try:
            signed = crl.issuer == issuer.subject and crl.is_signature_valid(issuer.public_key())
        except (TypeError, ValueError):
            signed = False
        if not signed:
            problem = f"the CRL at {url} is not signed by '{_cn(issuer)}'"
        elif crl.next_update_utc is None or crl.next_update_utc < now:
            problem = f"the CRL at {url} is out of date (nextUpdate {crl.next_update_utc})"
        else:
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                raise ChainFailure(f"'{_cn(cert)}' (serial {cert.serial_number:x}) was revoked on "
                                   f"{entry.revocation_date_utc:%Y-%m-%d %H:%M:%SZ}")
            return
    raise ChainFailure(problem)


def check_chain(leaf: x509.Certificate, presented: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate],
                *, now: datetime, fetch: Fetcher, aia_only: bool = False) -> list[x509.Certificate]:
    """Path leaf -> anchor (x5c intermediates, or AIA only) and a hard-fail CRL check below the anchor."""
    for bad, text in ((now > leaf.not_valid_after_utc, f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ}"),
                      (now < leaf.not_valid_before_utc, f"is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%SZ}")):
        if bad:
            raise ChainFailure(f"the client certificate '{_cn(leaf)}' {text}")
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise ChainFailure(f"the client certificate '{_cn(leaf)}' is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        if not leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            raise ChainFailure(f"the keyUsage of '{_cn(leaf)}' does not allow digitalSignature")
    except x509.ExtensionNotFound:
        pass
    intermediates = _through_aia(leaf, anchors, fetch) if aia_only else list(presented)
    policy = (PolicyBuilder().store(Store(list(anchors))).time(now).max_chain_depth(MAX_CHAIN_DEPTH)
              .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()))
    try:
        chain = policy.build_client_verifier().verify(leaf, intermediates).chain
    except VerificationError as exc:
        if not aia_only and not intermediates and leaf.issuer not in {a.subject for a in anchors}:
            raise ChainFailure(f"no valid path from '{_cn(leaf)}' to a trust anchor of community {COMMUNITY_URI}: "
                               f"x5c holds only the client certificate; if an intermediate CA of this community "
                               f"issued it, put that certificate in x5c too (this server follows AIA only in "
                               f"aia-only mode)") from None
        raise ChainFailure(f"no valid path from '{_cn(leaf)}' (issuer '{leaf.issuer.rfc4514_string()}') to a trust "
                           f"anchor of community {COMMUNITY_URI}: {exc}") from None
    for cert, issuer in zip(chain, chain[1:]):
        _check_crl(cert, issuer, now, fetch)
    return chain
