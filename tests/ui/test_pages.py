"""Each page shows what a person would see, and Next goes where core.workflow says."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWizard

from app.core.errors import KeyContainerError
from app.ui.steps import page_id
from tests.ui.conftest import ORG, fill_organization, walk_to
from tests.ui.fakes import PRACTICE, SERVER, Problem


def next_enabled(wizard) -> bool:
    return wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_first_run_starts_new_profile_in_the_practice_community(wizard):
    start = wizard.currentPage()
    assert start.new_radio.isChecked() and not start.list.isVisible()
    assert "No saved profiles yet." in start.loading.text()
    wizard.next()
    community = wizard.currentPage()
    assert community.STEP == "COMMUNITY"
    assert community.list.currentItem().text().startswith("Practice community (on this computer)")
    assert "communit" in community.subTitle()
    wizard.next()
    assert wizard.ctx.community == PRACTICE and wizard.ctx.session.practice.running


def test_organization_needs_the_required_fields_and_creates_the_profile(wizard, backend):
    walk_to(wizard, "ORGANIZATION")
    page = wizard.currentPage()
    assert not next_enabled(wizard)
    fill_organization(page, {k: v for k, v in ORG.items() if k != "contact"})
    assert not next_enabled(wizard)
    page.fields["contact"].setText(ORG["contact"])
    assert next_enabled(wizard)
    wizard.next()
    (args, kwargs), = backend.onboarding.called("create_profile")
    assert kwargs["client_uri"] == ORG["client_uri"] and kwargs["community"] == PRACTICE
    assert backend.session.profiles.list() == ["riverside"]
    assert wizard.currentPage().STEP == "KEY"


def test_key_page_defaults_to_rsa_3072_and_generates_on_next(wizard, backend):
    walk_to(wizard, "KEY")
    page = wizard.currentPage()
    assert page.chosen() == "rsa-3072"
    assert "recommended" in page.radios["rsa-3072"].text()
    wizard.next()
    assert backend.onboarding.called("generate_key")[0][0] == ("rsa-3072",)
    assert wizard.currentPage().STEP == "CSR"
    saved = backend.session.profiles.load("riverside")
    assert saved.key_file and saved.step == "key"          # saved after the completed step


def test_key_error_is_explained_and_keeps_the_page(wizard, backend):
    walk_to(wizard, "KEY")
    backend.onboarding.fail["generate_key"] = KeyContainerError("damaged", path="/x/key.p12")
    wizard.next()
    page = wizard.currentPage()
    assert page.STEP == "KEY"
    assert page.banner.isVisible() and page.banner.kind == "error"
    assert page.banner.plain_text().startswith("Problem: ")
    assert "Traceback" not in page.banner.plain_text()
    assert not page.busy and next_enabled(wizard)


def test_pkcs12_skips_the_certificate_request(wizard, backend, tmp_path):
    walk_to(wizard, "KEY")
    page = wizard.currentPage()
    page.radios["pkcs12"].setChecked(True)
    assert page.p12_box.isVisible()
    assert not next_enabled(wizard)                      # no file yet
    p12 = tmp_path / "from-ca.p12"
    p12.write_bytes(b"0\x82fake")
    page.p12_file.load_files([str(p12)])
    page.p12_password.edit.setText("s3cret")
    assert next_enabled(wizard)
    wizard.next()
    assert backend.onboarding.called("import_pkcs12")[0][0] == (b"0\x82fake", b"s3cret")
    assert wizard.currentPage().STEP == "CERTIFICATE"     # CSR step skipped by core.workflow
    assert wizard.steps.item(3).text().startswith("–")    # side list says the CSR is not needed


def test_csr_page_shows_uri_request_openssl_and_issue_now(wizard, backend):
    walk_to(wizard, "CSR")
    page = wizard.currentPage()
    assert ORG["client_uri"] in page.uri_label.text()
    assert "BEGIN CERTIFICATE REQUEST" in page.pem.text()      # made with the default subject
    assert page.subject["common_name"].text() == ORG["client_name"]
    page.openssl.click()
    assert "openssl" in page.commands.text() and ORG["client_uri"] in page.commands.text()
    assert page.issue.isVisible()
    page.issue.click()
    assert wizard.ctx.profile.certificate_chain_pem
    assert "issued" in page.banner.plain_text()


def test_certificate_blocking_problem_stops_next_but_warning_does_not(wizard, backend):
    walk_to(wizard, "CERTIFICATE")
    page = wizard.currentPage()
    assert page.table.statuses() == ["ok", "ok", "anchor"]
    assert next_enabled(wizard)
    backend.onboarding.cert_problems = [Problem("client_uri_missing", "error",
                                                {"expected": ORG["client_uri"], "position": 34})]
    page.files.edit.setPlainText("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
    page.check.click()
    assert page.table.statuses()[-1] == "error"
    assert "Problem" in page.table.text_of(3)
    assert not next_enabled(wizard)
    backend.onboarding.cert_problems = [Problem("expires_soon", "warning", {"days_left": 12})]
    page.check.click()
    assert page.table.statuses()[-1] == "warning"
    assert next_enabled(wizard)


def test_details_scopes_come_from_discovery_and_user_login_fields_only_when_chosen(wizard, backend):
    walk_to(wizard, "REGISTRATION_DETAILS")
    page = wizard.currentPage()
    assert page.b2b.isChecked()
    assert [page.scopes.item(i).text() for i in range(page.scopes.count())] == backend.onboarding.scopes
    assert not page.redirects.isVisible() and not page.logo.isVisible()
    assert '"iss": "https://riverside.example.org/udap"' in page.jwt.claims.toPlainText()
    assert next_enabled(wizard)
    page.user.setChecked(True)
    assert page.redirects.isVisible() and page.logo.isVisible()
    page.rebuild()
    assert "error" in page.lint.statuses()
    assert not next_enabled(wizard)
    page.redirects.setPlainText("https://riverside.example.org/cb")
    page.logo.setText("https://riverside.example.org/logo.png")
    page.rebuild()
    assert page.lint.statuses() == ["ok"] and next_enabled(wizard)
    page.b2b.setChecked(True)
    page.rebuild()
    wizard.next()
    assert wizard.ctx.profile.scopes == backend.onboarding.scopes
    assert wizard.ctx.profile.grant_types == ["client_credentials"]


def test_connect_registers_shows_granted_and_can_cancel(wizard, backend, monkeypatch):
    walk_to(wizard, "CONNECT")
    page = wizard.currentPage()
    assert page.checks.statuses() == ["ok", "ok", "ok"]
    assert not next_enabled(wizard)
    backend.onboarding.reject = {SERVER}
    page.register.click()
    assert page.banner.kind == "error" and "aud does not match" in page.banner.plain_text()
    assert not next_enabled(wizard)
    backend.onboarding.reject = set()
    page.register.click()
    assert "client-123" in page.result.text()
    assert page.diff.item(1, 0).text() == "scope" and "fewer than asked" in page.diff.item(1, 2).text()
    assert next_enabled(wizard) and page.cancel_reg.isVisible()
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    page.cancel_reg.click()
    assert backend.onboarding.called("register")[-1][1]["cancel"] is True
    assert "cancelled" in page.result.text() and not next_enabled(wizard)


def test_access_and_done(wizard, backend, tmp_path):
    walk_to(wizard, "TEST_ACCESS")
    page = wizard.currentPage()
    page.run.click()
    assert page.table.statuses() == ["ok", "ok"]
    assert "CapabilityStatement" in page.response.text()
    wizard.next()
    done = wizard.currentPage()
    assert done.STEP == "DONE"
    text = done.summary.text()
    assert "riverside" in text and "client-123" in text and "335 days" in text
    out = tmp_path / "evidence.zip"
    done.export_to(str(out))
    assert out.exists() and "Evidence saved" in done.banner.plain_text()
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()
    done.details.click()
    assert wizard.currentId() == page_id("REGISTRATION_DETAILS")


def test_done_registers_with_several_servers_one_row_each(wizard, backend):
    walk_to(wizard, "DONE")
    done = wizard.currentPage()
    assert done.servers.toPlainText() == "https://fhir.example.org/r4" or done.server_list() == []
    others = ["https://a.example.net/fhir", "https://b.example.net/fhir", "https://c.example.net/fhir"]
    backend.onboarding.reject = {others[1]}
    done.servers.setPlainText("\n".join(others + [others[0], ""]))  # duplicates and blank lines are dropped
    done.more.click()
    (servers, _community), _ = backend.onboarding.called("register")[-1]
    assert servers == others  # one call: the core registers with them concurrently
    assert done.results.statuses() == ["ok", "error", "ok"]
    assert "invalid" in done.results.text_of(1).lower() and others[1] in done.results.text_of(1)
    assert "2 of 3" in done.banner.plain_text()


def test_resume_lists_state_and_continues_at_first_open_step(wizard, backend):
    walk_to(wizard, "CERTIFICATE")
    wizard.restart()
    start = wizard.currentPage()
    assert start.list.count() == 1
    line = start.list.item(0).text()
    assert "riverside" in line and "335 more days" in line and "registered with 0 server(s)" in line
    assert "next: Registration details" in line
    assert start.resume_radio.isChecked()
    wizard.next()
    assert wizard.currentId() == page_id("REGISTRATION_DETAILS")


def test_side_list_marks_done_current_and_open_steps(wizard):
    walk_to(wizard, "KEY")
    texts = [wizard.steps.item(i).text() for i in range(wizard.steps.count())]
    assert texts[0].startswith("✓") and texts[1].startswith("✓")
    assert texts[2].startswith("▶") and wizard.steps.item(2).font().bold()
    assert not texts[3].startswith(("✓", "▶"))
    from PySide6.QtCore import Qt

    assert "you are here" in wizard.steps.item(2).data(Qt.ItemDataRole.AccessibleTextRole)


def test_back_drops_results_of_the_page_left(wizard):
    """Leaving a page invalidates its tasks: a late result must not land in it."""
    walk_to(wizard, "KEY")
    page = wizard.currentPage()
    gen_before = wizard.ctx.runner._owners.current(id(page))
    wizard.back()
    assert wizard.ctx.runner._owners.current(id(page)) > gen_before


def test_threaded_runner_keeps_window_responsive_and_advances_when_done(qtbot, backend):
    """With the real TaskRunner, Next on the key page shows progress, then moves on by itself."""
    import threading

    from app.ui.context import WizardContext
    from app.ui.tasks import TaskRunner
    from app.ui.wizard import OnboardingWizard

    runner = TaskRunner()
    w = OnboardingWizard(WizardContext(runner=runner))
    qtbot.addWidget(w)
    w.show()
    w.set_backend(backend)
    qtbot.waitUntil(lambda: not w.currentPage().busy, timeout=3000)
    w.next()
    qtbot.waitUntil(lambda: w.currentId() == page_id("COMMUNITY") and not w.currentPage().busy, timeout=3000)
    w.next()
    qtbot.waitUntil(lambda: w.currentId() == page_id("ORGANIZATION"), timeout=3000)
    fill_organization(w.currentPage())
    w.next()
    qtbot.waitUntil(lambda: w.currentId() == page_id("KEY"), timeout=3000)
    release = threading.Event()
    slow = backend.onboarding.generate_key

    def slow_key(*args, **kwargs):
        release.wait(5)
        return slow(*args, **kwargs)

    backend.onboarding.generate_key = slow_key
    key_page = w.currentPage()
    w.next()
    assert w.currentId() == page_id("KEY") and key_page.busy and key_page.progress.isVisible()
    assert not next_enabled(w)
    qtbot.wait(50)                      # the event loop keeps running while the key is made
    release.set()
    qtbot.waitUntil(lambda: w.currentId() == page_id("CSR"), timeout=5000)
    runner.wait(3000)
