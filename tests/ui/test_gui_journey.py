"""The journey in the GUI with the real background runner: every slow step runs on a worker thread.

Unlike test_real_session.py (synchronous runner), results arrive through Qt signals here, as for a
person; each step waits with ``qtbot.waitSignal`` on the runner going idle. The practice community
runs on loopback inside the test. The second journey rehearses a real-world server that accepts
RSA keys only: with an EC key the registration is refused and the page explains what to do.
"""

from __future__ import annotations

import pytest

from app.ui.context import Backend, WizardContext
from app.ui.steps import page_id
from tests.ui.conftest import ORG, fill_organization

TIMEOUT = 60_000


@pytest.fixture
def threaded(qtbot, home):
    from app.core import onboarding, workflow
    from app.core.secrets import MemorySecretStore
    from app.core.session import Session
    from app.ui.tasks import TaskRunner
    from app.ui.wizard import OnboardingWizard

    session = Session(home, secrets=MemorySecretStore())
    runner = TaskRunner()
    w = OnboardingWizard(WizardContext(runner=runner))
    qtbot.addWidget(w)
    w.show()
    w.set_backend(Backend(session, onboarding, workflow))
    qtbot.waitUntil(lambda: not runner.is_busy() and w.currentPage().isComplete(), timeout=TIMEOUT)  # profile list
    yield w
    runner.wait(TIMEOUT)
    session.close()


def idle_after(qtbot, w, action) -> None:
    """Do ``action`` and wait until every task it started (and their follow-ups) has delivered."""
    with qtbot.waitSignal(w.ctx.runner.busy_changed, timeout=TIMEOUT, check_params_cb=lambda busy: not busy):
        action()


def expect(w, step: str) -> None:
    page = w.currentPage()
    assert w.currentId() == page_id(step), f"on {page.objectName()}: {page.banner.plain_text()}"


def to_certificate(qtbot, w, key_choice: str, modes: tuple[str, ...] = ()) -> None:
    w.next()
    expect(w, "COMMUNITY")
    community = w.currentPage()
    index = next(i for i in range(community.mode.count()) if tuple(community.mode.itemData(i)) == modes)
    community.mode.setCurrentIndex(index)
    idle_after(qtbot, w, w.next)                       # starts the practice server off the GUI thread
    expect(w, "ORGANIZATION")
    fill_organization(w.currentPage(), ORG)
    idle_after(qtbot, w, w.next)                       # saves the profile
    expect(w, "KEY")
    w.currentPage().radios[key_choice].setChecked(True)
    idle_after(qtbot, w, w.next)                       # generates the key, then the CSR page makes the request
    expect(w, "CSR")
    csr = w.currentPage()
    assert "BEGIN CERTIFICATE REQUEST" in csr.pem.text()
    idle_after(qtbot, w, csr.issue.click)              # the practice CA signs it
    assert csr.banner.kind == "ok", csr.banner.plain_text()
    idle_after(qtbot, w, w.next)                       # the certificate page checks chain and revocation
    expect(w, "CERTIFICATE")
    assert w.currentPage().table.statuses() == ["ok", "ok", "anchor"]


def to_connect(qtbot, w) -> None:
    idle_after(qtbot, w, w.next)                       # discovery, then the live lint and signed preview
    expect(w, "REGISTRATION_DETAILS")
    details = w.currentPage()
    assert details.lint.statuses() == ["ok"] and details.ready()
    w.next()
    expect(w, "CONNECT")
    assert set(w.currentPage().checks.statuses()) == {"ok"}


def test_whole_journey_with_the_background_runner(qtbot, threaded):
    w = threaded
    to_certificate(qtbot, w, "ec-p256")
    to_connect(qtbot, w)
    connect = w.currentPage()
    idle_after(qtbot, w, connect.register.click)
    assert connect.banner.kind == "ok", connect.banner.plain_text()
    client_id = w.ctx.last_registration[0].client_id
    assert client_id in connect.result.text() and connect.diff.rowCount() > 0  # requested vs granted
    w.next()
    expect(w, "TEST_ACCESS")
    access = w.currentPage()
    idle_after(qtbot, w, access.run.click)
    assert access.table.statuses() == ["ok", "ok"], access.banner.plain_text()
    w.next()
    expect(w, "DONE")
    assert client_id in w.currentPage().summary.text()
    state = w.ctx.workflow.OnboardingState.from_profile(w.ctx.session.profiles.load(ORG["name"]), w.ctx.now())
    assert state.has_registration and state.token_tested


def test_a_refused_registration_is_explained_with_the_next_step(qtbot, threaded):
    w = threaded
    to_certificate(qtbot, w, "ec-p256", modes=("rsa-only",))
    to_connect(qtbot, w)
    connect = w.currentPage()
    idle_after(qtbot, w, connect.register.click)
    banner = connect.banner.plain_text()
    assert connect.banner.kind == "error" and "Not registered" in connect.result.text()
    assert "RSA" in banner, banner                       # what happened, in the server's and our words
    assert not w.button(w.WizardButton.NextButton).isEnabled()
    saved = w.ctx.session.profiles.load(ORG["name"])
    assert not saved.registrations and saved.certificate_chain_pem  # nothing lost, nothing half-recorded


def test_stop_drops_a_slow_key_generation(qtbot, threaded):
    w = threaded
    w.next()
    idle_after(qtbot, w, w.next)
    fill_organization(w.currentPage(), ORG)
    idle_after(qtbot, w, w.next)
    expect(w, "KEY")
    key = w.currentPage()
    key.radios["rsa-4096"].setChecked(True)
    w.next()
    assert key.busy and key.stop.isVisible() and w.currentId() == page_id("KEY")
    key.stop.click()
    assert not key.busy and "Stopped" in key.banner.plain_text()
    w.ctx.runner.wait(TIMEOUT)
    qtbot.wait(50)  # let a late delivery arrive: it must be dropped
    assert w.currentId() == page_id("KEY")
    saved = w.ctx.session.profiles.load(ORG["name"])
    assert not saved.key_file and not (w.ctx.session.profiles.path(ORG["name"]) / "key.p12").exists()
