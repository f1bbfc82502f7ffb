"""CSR: the certificate request you send to your community, exactly as it will read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton

from app.ui.pages.base import StepPage
from app.ui.pages.community import ensure_practice, is_practice
from app.ui.widgets import PemView

SUBJECT_FIELDS = (("common_name", "Co&mmon name:"), ("organization", "&Organization:"),
                  ("country", "Countr&y (2 letters):"), ("state", "&State / province:"),
                  ("locality", "Cit&y:"))


def issue_practice(onboarding: Any, session: Any, profile: Any) -> Any:
    """Runs in a task: make sure the practice CA runs, then let it sign our request."""
    ensure_practice(session, profile.community)
    return onboarding.issue_practice_certificate(session, profile)


def save_text(path: str, text: str) -> Path:
    """Runs in a task: a CSR is public, so a readable file is fine; written atomically all the same."""
    from app.core.storage import atomic_write

    atomic_write(Path(path), text.encode("utf-8"), mode=0o644)
    return Path(path)


class CsrPage(StepPage):
    STEP = "CSR"

    def build(self) -> None:
        self.setTitle(self.tr("Certificate request"))
        self.setSubTitle(self.tr("Create a certificate request: the file you send to your community so it can "
                                 "issue your certificate. It contains no secret."))
        self.uri_label = self.text("", rich=True)
        form = self.form()
        self.subject: dict[str, QLineEdit] = {}
        for key, text in SUBJECT_FIELDS:
            edit = QLineEdit(self)
            label = QLabel(self.tr(text), self)
            label.setBuddy(edit)
            form.addRow(label, edit)
            self.subject[key] = edit
        self.subject["country"].setMaxLength(2)
        row = QHBoxLayout()
        self.create_button = QPushButton(self.tr("&Create the request"), self)
        self.issue = QPushButton(self.tr("&Issue it now (practice community)"), self)
        self.openssl = QPushButton(self.tr("Show the equivalent &openssl commands"), self)
        self.openssl.setCheckable(True)
        for b in (self.create_button, self.issue, self.openssl):
            row.addWidget(b)
        row.addStretch(1)
        self.body.addLayout(row)
        self.pem = PemView(self.tr("Certificate request (PEM)"), self, can_save=True)
        self.body.addWidget(self.pem, 1)
        self.commands = PemView(self.tr("Equivalent openssl commands"), self)
        self.commands.setVisible(False)
        self.body.addWidget(self.commands, 1)
        self.send_hint = self.text(self.tr("Next: save or copy the request and send it to your community. When "
                                           "the certificate comes back, continue with Next."))
        self.create_button.clicked.connect(self.make_request)
        self.issue.clicked.connect(self.issue_now)
        self.openssl.toggled.connect(self.show_commands)
        self.pem.save_requested.connect(self.save_request)
        self.first_field = self.subject["common_name"]

    def subject_values(self) -> dict:
        return {k: e.text().strip() or None for k, e in self.subject.items()}

    def load(self) -> None:
        p = self.ctx.profile
        self.uri_label.setText(self.tr("Your client URI, as it will appear in the certificate:<br><b><tt>{uri}</tt>"
                                       "</b>").format(uri=_html(p.client_uri)))
        self.subject["common_name"].setText(p.client_name)
        self.subject["organization"].setText(p.org_name)
        self.issue.setVisible(self._is_practice())
        self.pem.set_text(p.csr_pem or "")
        if not p.csr_pem:
            self.make_request()

    def _is_practice(self) -> bool:
        return is_practice(self.ctx.community_name())

    def make_request(self) -> None:
        self.call(self.ctx.onboarding.create_csr, self.ctx.session, self.ctx.profile, self.subject_values(),
                  on_done=self._got_csr, busy=self.tr("Creating the request…"))

    def _got_csr(self, pem: str) -> None:
        self.ctx.profile.csr_pem = pem
        self.pem.set_text(pem)
        self.ctx.set_profile(self.ctx.profile)  # onboarding.create_csr saved it, off the GUI thread (fsync)
        self.banner.show_status("ok", self.tr("The request is ready. Save it or copy it for your community."))
        if self.openssl.isChecked():
            self.show_commands(True)
        self.completeChanged.emit()

    def show_commands(self, shown: bool) -> None:
        self.commands.setVisible(shown)
        if shown:
            self.call(self.ctx.onboarding.openssl_commands, self.ctx.profile, self.subject_values(),
                      on_done=self.commands.set_text)

    def issue_now(self) -> None:
        self.call(issue_practice, self.ctx.onboarding, self.ctx.session, self.ctx.profile, on_done=self._issued,
                  busy=self.tr("The practice community is issuing your certificate…"))

    def _issued(self, check: Any) -> None:
        self.ctx.last_check = check
        self.ctx.set_profile(self.ctx.profile)
        self.banner.show_status("ok", self.tr("Your practice certificate was issued. Press Next to check it."))
        self.completeChanged.emit()

    def save_request(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Save the certificate request"),
                                              f"{self.ctx.profile.name}.csr.pem",
                                              self.tr("Certificate request (*.csr *.pem)"))
        if path:
            self.call(save_text, path, self.pem.text(), on_done=lambda p: self.banner.show_status(
                "ok", self.tr("Saved to {path}.").format(path=p)))

    def ready(self) -> bool:
        p = self.ctx.profile
        return bool(p is not None and (p.csr_pem or p.certificate_chain_pem))


def _html(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
