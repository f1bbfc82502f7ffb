"""The whole onboarding journey in one screen: which steps exist, when each is done, where to go.

The wizard's nextId() and the CLI's "what is left" both ask this module, so the route is
decided once. A PKCS#12 delivered by the CA (key + certificate) has no CSR step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the type of from_profile's argument
    from app.core.profile import Profile


class Step(str, Enum):
    COMMUNITY = "community"
    ORGANIZATION = "organization"
    KEY = "key"
    CSR = "csr"
    CERTIFICATE = "certificate"
    REGISTRATION_DETAILS = "registration_details"
    CONNECT = "connect"
    TEST_ACCESS = "test_access"
    DONE = "done"


ORDER: tuple[Step, ...] = tuple(Step)


@dataclass
class OnboardingState:
    """What is known about one client, as plain flags the pages and the CLI can set and read."""

    has_community: bool = False
    has_organization: bool = False
    has_key: bool = False
    key_from_pkcs12: bool = False
    has_csr: bool = False
    has_certificate: bool = False
    certificate_ok: bool = False
    certificate_problem: str | None = None   # "unreadable" | "expired" | "not_yet_valid"
    certificate_fingerprint: str | None = None
    has_registration_details: bool = False
    has_registration: bool = False          # a registration for this community and this certificate
    token_tested: bool = False              # a token was obtained with that registration's client_id

    @classmethod
    def from_profile(cls, profile: "Profile", now: datetime | None = None) -> "OnboardingState":
        """Derive the flags from a saved profile (no disk, no network, no secrets)."""
        now = now or datetime.now(timezone.utc)
        leaf = profile.leaf_certificate()
        fp = profile.certificate_fingerprint() if leaf is not None else None
        problem = None
        if profile.certificate_chain_pem and leaf is None:
            problem = "unreadable"
        elif leaf is not None and now >= leaf.not_valid_after_utc:
            problem = "expired"
        elif leaf is not None and now < leaf.not_valid_before_utc:
            problem = "not_yet_valid"
        current = [r for r in profile.registrations_in(profile.community, profile.community_uri)
                   if fp is not None and r.get("certificate_fingerprint") in (None, fp)]
        tested = profile.token_test or {}
        return cls(
            has_community=bool(profile.community),
            has_organization=bool(profile.org_name.strip() and profile.client_uri.strip()),
            has_key=bool(profile.key_file),
            key_from_pkcs12=profile.key_source == "pkcs12",
            has_csr=bool(profile.csr_pem),
            has_certificate=leaf is not None,
            certificate_ok=leaf is not None and problem is None,
            certificate_problem=problem,
            certificate_fingerprint=fp,
            has_registration_details=bool(profile.client_name.strip() and profile.grant_types and profile.scopes
                                          and any(c.startswith("mailto:") for c in profile.contacts)),
            has_registration=bool(current),
            token_tested=bool(current) and tested.get("client_id") in {r.get("client_id") for r in current},
        )


def route(state: OnboardingState) -> list[Step]:
    """The steps this client goes through, in order (no CSR when the key came in a PKCS#12)."""
    return [s for s in ORDER if not (s is Step.CSR and state.key_from_pkcs12)]


def is_satisfied(step: Step, state: OnboardingState) -> bool:
    """True when the step's result is in hand (each step also needs the ones it builds on)."""
    key = state.has_community and state.has_organization and state.has_key
    cert = key and state.certificate_ok
    details = cert and state.has_registration_details
    checks = {
        Step.COMMUNITY: state.has_community,
        Step.ORGANIZATION: state.has_community and state.has_organization,
        Step.KEY: key,
        Step.CSR: key and (state.has_csr or state.certificate_ok),
        Step.CERTIFICATE: cert,
        Step.REGISTRATION_DETAILS: details,
        Step.CONNECT: details and state.has_registration,
        Step.TEST_ACCESS: details and state.has_registration and state.token_tested,
    }
    if step is Step.DONE:
        return all(checks[s] for s in route(state) if s is not Step.DONE)
    return checks[step]


def next_step(step: Step, state: OnboardingState) -> Step:
    """The step after ``step`` on this client's route (pure routing: pages decide if Next is allowed)."""
    steps = route(state)
    later = [s for s in steps if ORDER.index(s) > ORDER.index(step)]
    return later[0] if later else Step.DONE


def previous_step(step: Step, state: OnboardingState) -> Step | None:
    """The step Back leads to, or None on the first step."""
    earlier = [s for s in route(state) if ORDER.index(s) < ORDER.index(step)]
    return earlier[-1] if earlier else None


def first_incomplete_step(state: OnboardingState) -> Step:
    """Where a resumed profile should open: the first unsatisfied step, else DONE."""
    left = remaining(state)
    return left[0] if left else Step.DONE


def remaining(state: OnboardingState) -> list[Step]:
    """What is left to do, in order (DONE is not a task, so a finished client gets [])."""
    return [s for s in route(state) if s is not Step.DONE and not is_satisfied(s, state)]
