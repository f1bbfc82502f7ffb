"""The organization page: the client URI is checked as it is typed, and a saved profile can be corrected."""

from __future__ import annotations

from app.ui.steps import page_id
from tests.ui.conftest import ORG, fill_organization, walk_to


def test_client_uri_is_checked_live(wizard):
    walk_to(wizard, "ORGANIZATION")
    page = wizard.currentPage()
    fill_organization(page)
    uri, hint = page.fields["client_uri"], page.hints["client_uri"]
    assert hint.text().startswith("✓") and page.isComplete()
    uri.setText("riverside.example.org/udap")
    assert hint.text().startswith("✗") and "absolute" in hint.text() and not page.isComplete()
    uri.setText("https://riverside.example.org/udap#b2b")
    assert "#" in hint.text() and not page.isComplete()
    uri.setText("http://riverside.example.org/udap/")
    assert hint.text().startswith("⚠") and "https" in hint.text() and "'/'" in hint.text()
    assert page.isComplete()  # warnings inform, they do not block
    assert hint.accessibleDescription() == hint.text()  # a screen reader hears the same


def test_saved_profile_can_be_corrected_but_not_its_client_uri_after_the_request(wizard, backend):
    walk_to(wizard, "KEY")
    wizard.back()
    page = wizard.currentPage()
    assert page.fields["name"].isReadOnly() and not page.fields["client_uri"].isReadOnly()
    page.fields["org_name"].setText("Riverside Family Practice LLC")
    wizard.next()
    assert wizard.currentId() == page_id("KEY")
    assert backend.onboarding.called("update_profile") == [((), {"org_name": "Riverside Family Practice LLC"})]
    assert backend.session.profiles.load(ORG["name"]).org_name == "Riverside Family Practice LLC"
    walk_to(wizard, "CERTIFICATE")  # the request now exists
    wizard.go_to_step("ORGANIZATION")
    page = wizard.currentPage()
    assert wizard.currentId() == page_id("ORGANIZATION") and page.fields["client_uri"].isReadOnly()
    assert "fixed" in page.saved_note.text()
    calls = len(backend.onboarding.called("update_profile"))
    wizard.next()  # nothing changed: nothing written
    assert len(backend.onboarding.called("update_profile")) == calls
