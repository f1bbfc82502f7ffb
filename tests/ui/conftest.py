"""UI fixtures: the wizard on the fake backend with the synchronous runner."""

from __future__ import annotations

import pytest

from app.ui.context import WizardContext
from app.ui.tasks import SyncRunner
from tests.ui.fakes import fake_backend


@pytest.fixture
def backend(home):
    return fake_backend(home)


@pytest.fixture
def wizard(qtbot, backend):
    from app.ui.wizard import OnboardingWizard

    ctx = WizardContext(runner=SyncRunner())
    w = OnboardingWizard(ctx)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.set_backend(backend)
    return w


ORG = {"name": "riverside", "org_name": "Riverside Family Practice", "client_name": "Riverside Records Sync",
       "client_uri": "https://riverside.example.org/udap", "contact": "it@riverside.example.org"}


def fill_organization(page, values=ORG) -> None:
    for key, value in values.items():
        page.fields[key].setText(value)


def walk_to(wizard, step: str) -> None:
    """Drive a new practice profile up to ``step`` (a page STEP name) through the real buttons."""
    from app.ui.steps import page_id

    target = page_id(step)
    while wizard.currentId() != target:
        page = wizard.currentPage()
        if getattr(page, "STEP", "") == "ORGANIZATION" and wizard.ctx.profile is None:
            fill_organization(page)
        if getattr(page, "STEP", "") == "CSR" and not wizard.ctx.profile.certificate_chain_pem:
            page.issue.click()
        if getattr(page, "STEP", "") == "CONNECT" and not page.ready():
            page.register.click()
        before = wizard.currentId()
        wizard.next()
        assert wizard.currentId() != before, f"stuck on {page.objectName()}: {page.banner.plain_text()}"


@pytest.fixture
def real_wizard(qtbot, home):
    """The wizard on the real Session and onboarding (memory secret store, synchronous runner)."""
    from app.core import onboarding, workflow
    from app.core.secrets import MemorySecretStore
    from app.core.session import Session
    from app.ui.context import Backend
    from app.ui.wizard import OnboardingWizard

    session = Session(home, secrets=MemorySecretStore())
    w = OnboardingWizard(WizardContext(runner=SyncRunner()))
    qtbot.addWidget(w)
    w.show()
    w.set_backend(Backend(session, onboarding, workflow))
    yield w
    session.close()
