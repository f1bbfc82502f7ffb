"""The whole journey through the real wizard pages on the real Session, onboarding and practice server.

Synchronous runner (the threaded runner is covered in test_tasks.py); memory secret store; the practice
community runs on loopback inside the test, so nothing leaves the machine.
"""

from __future__ import annotations

import pytest

from app.ui.context import Backend, WizardContext
from app.ui.steps import page_id
from app.ui.tasks import SyncRunner
from tests.ui.conftest import ORG, fill_organization


def advance(w, step: str) -> None:
    w.next()
    page = w.currentPage()
    assert w.currentId() == page_id(step), f"stuck on {page.objectName()}: {page.banner.plain_text()}"


def test_practice_journey_end_to_end(real_wizard):
    w = real_wizard
    advance(w, "COMMUNITY")
    advance(w, "ORGANIZATION")
    fill_organization(w.currentPage(), ORG)
    advance(w, "KEY")
    advance(w, "CSR")
    csr = w.currentPage()
    assert "BEGIN CERTIFICATE REQUEST" in csr.pem.text()
    csr.openssl.click()
    assert "openssl req" in csr.commands.text() and ORG["client_uri"] in csr.commands.text()
    csr.issue.click()
    assert csr.banner.kind == "ok", csr.banner.plain_text()
    advance(w, "CERTIFICATE")
    cert = w.currentPage()
    assert cert.table.statuses() == ["ok", "ok", "anchor"], [cert.table.text_of(i) for i in range(3)]
    advance(w, "REGISTRATION_DETAILS")
    details = w.currentPage()
    assert details.scopes.count() > 0 and details.lint.statuses() == ["ok"]
    assert ORG["client_uri"] in details.jwt.claims.toPlainText()
    advance(w, "CONNECT")
    connect = w.currentPage()
    assert set(connect.checks.statuses()) == {"ok"}
    connect.register.click()
    assert connect.banner.kind == "ok", connect.banner.plain_text()
    client_id = w.ctx.last_registration[0].client_id
    assert client_id and client_id in connect.result.text()
    advance(w, "TEST_ACCESS")
    access = w.currentPage()
    access.run.click()
    assert access.table.statuses() == ["ok", "ok"], access.banner.plain_text()
    advance(w, "DONE")
    assert client_id in w.currentPage().summary.text()
    saved = w.ctx.session.profiles.load(ORG["name"])
    state = w.ctx.workflow.OnboardingState.from_profile(saved, w.ctx.now())
    assert state.has_registration and state.token_tested
