"""Test access: get an access token with the new registration and make one FHIR call with it."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton

from app.ui.pages.base import StepPage
from app.ui.pages.community import ensure_practice
from app.ui.widgets import PemView, ReportRow, ReportTable


def token_test(onboarding: Any, session: Any, profile: Any, server: str, fhir_path: str | None) -> Any:
    """Runs in a task (network)."""
    ensure_practice(session, profile.community)
    return onboarding.request_token(session, profile, server, fhir_path=fhir_path)


class AccessPage(StepPage):
    STEP = "TEST_ACCESS"

    def build(self) -> None:
        self.setTitle(self.tr("Test access"))
        self.setSubTitle(self.tr("Prove that it works: ask the server for an access token, then read one thing "
                                 "with it."))
        row = QHBoxLayout()
        self.path = QLineEdit(self)
        self.path.setPlaceholderText(self.tr("empty = the server's capability statement (metadata)"))
        label = QLabel(self.tr("&Read this (FHIR path, optional):"), self)
        label.setBuddy(self.path)
        row.addWidget(label)
        row.addWidget(self.path, 1)
        self.body.addLayout(row)
        buttons = QHBoxLayout()
        self.run = QPushButton(self.tr("&Get a token and test"), self)
        buttons.addWidget(self.run)
        buttons.addStretch(1)
        self.body.addLayout(buttons)
        self.table = ReportTable(self.tr("Access test results"), self,
                                 (self.tr("Status"), self.tr("Step"), self.tr("What happened"), self.tr("What to do")))
        self.body.addWidget(self.table, 1)
        self.response = PemView(self.tr("Server response (start)"), self)
        self.body.addWidget(self.response, 1)
        self.note = self.text(self.tr("The access token itself is never shown or saved; it expires within minutes."))
        self.run.clicked.connect(self.test)
        self.path.returnPressed.connect(self.test)
        self.first_field = self.path
        self._result: Any = None

    def load(self) -> None:
        self._result = None
        self.table.set_rows([])
        self.response.set_text("")

    def test(self) -> None:
        server = self.ctx.server or (self.ctx.profile.servers[-1] if self.ctx.profile.servers else "")
        self.call(token_test, self.ctx.onboarding, self.ctx.session, self.ctx.profile, server,
                  self.path.text().strip() or "metadata", on_done=self._tested,
                  busy=self.tr("Asking for a token and reading from the server…"))

    def _tested(self, result: Any) -> None:
        """AccessTest(token: TokenResult, fhir: FhirResult | None); failures arrive as errors instead."""
        self._result = result
        self.ctx.set_profile(self.ctx.profile)
        token, fhir = result.token, result.fhir
        rows = [ReportRow("ok", self.tr("Access token"),
                          self.tr("Issued: permissions {scope}, valid {n} seconds.").format(
                              scope=token.granted_scope or token.requested_scope, n=token.expires_in or "?"), "")]
        if getattr(token, "scope_removed", None):
            rows.append(ReportRow("warning", self.tr("Permissions"),
                                  self.tr("The server left out: {scopes}.").format(scopes=", ".join(token.scope_removed)),
                                  self.tr("Ask the server's operator if you need them.")))
        if fhir is not None:
            rows.append(ReportRow("ok" if fhir.ok else "error", self.tr("FHIR read"),
                                  self.tr("{url} answered HTTP {status} ({kind}).").format(
                                      url=fhir.url, status=fhir.status, kind=fhir.resource_type or fhir.content_type),
                                  "" if fhir.ok else self.tr("Check that the granted permissions cover what you read.")))
            self.response.set_text(json.dumps(fhir.summary, indent=2, ensure_ascii=False, default=str))
        else:
            self.response.set_text("")
        self.table.set_rows(rows)
        ok = result.ok
        self.banner.show_status("ok" if ok else "error",
                                self.tr("It works: the server gave a token and answered.") if ok
                                else self.tr("The token was issued, but the FHIR read failed."),
                                "" if ok else self.tr("See the rows above."))
        self.completeChanged.emit()

    def ready(self) -> bool:
        return True  # the test is recommended, not required: the registration is already in place
