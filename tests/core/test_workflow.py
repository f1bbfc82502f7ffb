"""The journey: route, skips, resume point and what is left, derived from a saved profile."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core.community import certificate_fingerprint
from app.core.profile import Profile, ProfileStore
from app.core.workflow import (OnboardingState, Step, first_incomplete_step, is_satisfied, next_step,
                               previous_step, remaining, route)
from tests.pki import NOW, make_community, make_leaf

S = Step
FULL = [S.COMMUNITY, S.ORGANIZATION, S.KEY, S.CSR, S.CERTIFICATE, S.REGISTRATION_DETAILS, S.CONNECT,
        S.TEST_ACCESS, S.DONE]
EP, ISS = "https://as.example/register", "https://client.example.org/app"


@pytest.fixture(scope="module")
def pki():
    return make_community()


def walk(state: OnboardingState, start=S.COMMUNITY) -> list[Step]:
    steps = [start]
    while steps[-1] is not S.DONE:
        steps.append(next_step(steps[-1], state))
        assert len(steps) < 20
    return steps


def profile_at(pki, stage: str, **kw) -> Profile:
    """A profile filled up to ``stage`` along the CSR route."""
    order = ["empty", "community", "organization", "key", "csr", "certificate", "details", "registered", "tested"]
    p = Profile(name="Acme", **kw)
    n = order.index(stage)
    if n >= 1:
        p.community, p.community_uri = "Test Community", "urn:example:community"
    if n >= 2:
        p.org_name, p.client_uri = "Acme Clinic", ISS
    if n >= 3:
        p.key_file, p.key_type, p.key_source = "key.p12", "rsa-3072", p.key_source or "generated"
    if n >= 4 and p.key_source != "pkcs12":
        p.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\n...\n-----END CERTIFICATE REQUEST-----\n"
    if n >= 5:
        p.certificate_chain_pem = [pki.leaf.pem.decode(), pki.intermediate.pem.decode()]
    if n >= 6:
        p.client_name, p.contacts, p.scopes = "Acme app", ["mailto:it@acme.example"], ["system/*.read"]
    if n >= 7:
        p.record_registration(EP, "urn:example:community", ISS,
                              {"client_id": "c-1", "certificate_fingerprint": certificate_fingerprint(pki.leaf.cert)},
                              now=NOW)
    if n >= 8:
        p.record_token_test("c-1", "https://as.example/token", now=NOW)
    return p


def test_step_values_are_stable_strings():
    assert list(Step) == FULL
    assert Step("registration_details") is S.REGISTRATION_DETAILS and S.DONE.value == "done"


def test_full_route_with_a_generated_key():
    state = OnboardingState()
    assert route(state) == FULL
    assert walk(state) == FULL
    assert [previous_step(s, state) for s in FULL] == [None] + FULL[:-1]
    assert next_step(S.DONE, state) is S.DONE


def test_pkcs12_import_skips_the_csr():
    state = OnboardingState(key_from_pkcs12=True)
    assert next_step(S.KEY, state) is S.CERTIFICATE
    assert previous_step(S.CERTIFICATE, state) is S.KEY
    assert S.CSR not in walk(state)
    assert next_step(S.CSR, state) is S.CERTIFICATE   # a page left over from before the import


@pytest.mark.parametrize("stage, expected", [
    ("empty", S.COMMUNITY), ("community", S.ORGANIZATION), ("organization", S.KEY), ("key", S.CSR),
    ("csr", S.CERTIFICATE), ("certificate", S.REGISTRATION_DETAILS), ("details", S.CONNECT),
    ("registered", S.TEST_ACCESS), ("tested", S.DONE),
])
def test_resume_from_a_saved_profile(pki, home, stage, expected):
    store = ProfileStore(home)
    store.create(profile_at(pki, stage))
    state = OnboardingState.from_profile(store.load("Acme"), NOW)
    assert first_incomplete_step(state) is expected
    left = remaining(state)
    assert left == ([] if expected is S.DONE else FULL[FULL.index(expected):-1])
    assert is_satisfied(S.DONE, state) is (expected is S.DONE)


def test_pkcs12_profile_after_the_key_step_resumes_at_registration_details(pki):
    p = profile_at(pki, "certificate", key_source="pkcs12")
    state = OnboardingState.from_profile(p, NOW)
    assert state.key_from_pkcs12 and state.certificate_ok and not state.has_csr
    assert next_step(S.KEY, state) is S.CERTIFICATE
    assert is_satisfied(S.CERTIFICATE, state)
    assert next_step(S.CERTIFICATE, state) is S.REGISTRATION_DETAILS
    assert first_incomplete_step(state) is S.REGISTRATION_DETAILS
    assert remaining(state) == [S.REGISTRATION_DETAILS, S.CONNECT, S.TEST_ACCESS]


def test_certificate_from_elsewhere_satisfies_the_csr_step(pki):
    p = profile_at(pki, "certificate")
    p.csr_pem = ""
    assert first_incomplete_step(OnboardingState.from_profile(p, NOW)) is S.REGISTRATION_DETAILS


def test_expired_or_unreadable_certificate_sends_back_to_certificate(pki):
    p = profile_at(pki, "tested")
    later = OnboardingState.from_profile(p, NOW + dt.timedelta(days=400))
    assert later.certificate_problem == "expired" and first_incomplete_step(later) is S.CERTIFICATE
    early = OnboardingState.from_profile(p, NOW - dt.timedelta(days=60))
    assert early.certificate_problem == "not_yet_valid"
    p.certificate_chain_pem = ["-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"]
    broken = OnboardingState.from_profile(p, NOW)
    assert broken.certificate_problem == "unreadable" and not broken.has_certificate
    assert first_incomplete_step(broken) is S.CERTIFICATE


def test_new_certificate_needs_a_new_registration_and_token_test(pki):
    p = profile_at(pki, "tested")
    assert OnboardingState.from_profile(p, NOW).token_tested
    renewed = make_leaf(pki.intermediate, [ISS])
    p.certificate_chain_pem = [renewed.pem.decode(), pki.intermediate.pem.decode()]
    state = OnboardingState.from_profile(p, NOW)
    assert not state.has_registration and not state.token_tested
    assert first_incomplete_step(state) is S.CONNECT


def test_registration_in_another_community_does_not_count(pki):
    p = profile_at(pki, "tested")
    p.community, p.community_uri = "Other", "urn:other"
    state = OnboardingState.from_profile(p, NOW)
    assert not state.has_registration and first_incomplete_step(state) is S.CONNECT


def test_token_test_with_an_old_client_id_does_not_count(pki):
    p = profile_at(pki, "tested")
    p.record_token_test("c-0-old", "https://as.example/token", now=NOW)
    assert first_incomplete_step(OnboardingState.from_profile(p, NOW)) is S.TEST_ACCESS


def test_registration_details_need_a_mailto_contact(pki):
    p = profile_at(pki, "details")
    p.contacts = ["https://acme.example/contact"]
    assert first_incomplete_step(OnboardingState.from_profile(p, NOW)) is S.REGISTRATION_DETAILS


def test_a_later_result_without_its_foundation_is_not_done():
    state = OnboardingState(has_community=True, has_organization=True, has_key=False, certificate_ok=True,
                            has_certificate=True, has_registration_details=True, has_registration=True,
                            token_tested=True)
    assert first_incomplete_step(state) is S.KEY
    assert remaining(state) == [S.KEY, S.CSR, S.CERTIFICATE, S.REGISTRATION_DETAILS, S.CONNECT, S.TEST_ACCESS]
