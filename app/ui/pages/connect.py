"""Connect: the server's checks, then register (or update, or cancel) and show what was granted."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QMessageBox, QPushButton,
                               QTableWidget, QTableWidgetItem)

from app.ui.context import pick
from app.ui.pages.base import StepPage
from app.ui.pages.community import ensure_practice
from app.ui.widgets import ReportRow, ReportTable

_DIFF_WORDS = {"same": "same", "narrowed": "≠ fewer than asked", "widened": "≠ more than asked",
               "changed": "≠ changed", "added": "≠ added by server", "not_returned": "not echoed"}


def register_with(onboarding: Any, session: Any, profile: Any, servers: list[str], community: str,
                  cancel: bool = False, request: Any = None) -> Any:
    """Runs in a task: the practice server must be up before we send anything to it."""
    ensure_practice(session, community)
    return onboarding.register(session, profile, servers, community, cancel=cancel, request=request)


def explain_outcome(page: Any, row: Any) -> Any:
    """A refused or failed ServerOutcome in plain words, through the same table as errors."""
    failure = pick(row, "explanation")
    if isinstance(failure, dict):
        return page.ctx.explain_code(failure.get("domain", "registration"), failure.get("code", "failed"),
                                     failure.get("fields", {}))
    return page.ctx.explain_code("registration", str(pick(row, "error", default="failed")), {})


def discovery_rows(page: Any, report: Any) -> list[ReportRow]:
    rows = []
    for row in pick(report, "rows", default=[]) or []:
        status = {"pass": "ok", "fail": "error"}.get(row.status, row.status)
        item = str(pick(row, "title", default="") or row.id)
        if status == "ok":
            rows.append(ReportRow("ok", item, page.tr("Passed."), ""))
        else:
            exp = page.ctx.explain_code("discovery", row.reason, dict(row.detail or {}))
            rows.append(ReportRow(status, item, exp.summary, exp.next_step, exp.details))
    return rows


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, str):
        return value or "(none)"
    return json.dumps(value)


class ConnectPage(StepPage):
    STEP = "CONNECT"

    def build(self) -> None:
        self.setTitle(self.tr("Register with a server"))
        self.setSubTitle(self.tr("Send your registration to the server. If it accepts, it gives your software a "
                                 "client ID, its name for you."))
        self.server_label = self.text("")
        self.checks = ReportTable(self.tr("Server checks"), self,
                                  (self.tr("Status"), self.tr("Check"), self.tr("What we found"), self.tr("What to do")))
        self.checks.setMaximumHeight(150)
        self.body.addWidget(self.checks)
        row = QHBoxLayout()
        self.register = QPushButton(self.tr("&Register"), self)
        self.update_button = QPushButton(self.tr("&Update registration"), self)
        self.cancel_reg = QPushButton(self.tr("&Cancel registration…"), self)
        for b in (self.register, self.update_button, self.cancel_reg):
            row.addWidget(b)
        row.addStretch(1)
        self.body.addLayout(row)
        self.result = self.text("", rich=True)
        self.diff = QTableWidget(0, 3, self)
        self.diff.setAccessibleName(self.tr("Requested versus granted"))
        self.diff.setHorizontalHeaderLabels([self.tr("Setting"), self.tr("You asked for"), self.tr("Server granted")])
        self.diff.verticalHeader().setVisible(False)
        self.diff.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.diff.setTabKeyNavigation(False)
        self.diff.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.body.addWidget(self.diff, 1)
        self.body.addStretch(0)  # with no table shown, the empty space goes below, not between the lines
        self.register.clicked.connect(lambda: self.send(False))
        self.update_button.clicked.connect(lambda: self.send(False))
        self.cancel_reg.clicked.connect(self.confirm_cancel)
        self.first_field = self.register

    def load(self) -> None:
        server = self.ctx.server
        self.server_label.setText(self.tr("Server: {server}").format(server=server or self.tr("(none chosen)")))
        report = self.ctx.discovery.get(server)
        self.checks.set_rows(discovery_rows(self, report) if report is not None else [])
        ok = report is not None and pick(report, "ok", default=True)
        self.register.setEnabled(bool(ok))
        self.ctx.last_registration = []
        self.result.setText(self.tr("Not registered yet. Press Register to send your registration.")
                            if ok else self.tr("The server failed its checks; registering is disabled."))
        self._show_diff([])
        saved = [r for r in (self.ctx.profile.registrations or {}).values()
                 if r.get("client_id") and (r.get("server") == server or str(r.get("endpoint", "")).startswith(server or "-"))]
        if saved:
            self.result.setText(self.tr("Already registered with this server; client ID <b><tt>{cid}</tt></b>. "
                                        "Press Next, or update the registration.").format(cid=saved[-1]["client_id"]))
            self.register.setText(self.tr("&Update registration"))
        else:
            self.register.setText(self.tr("&Register"))
        self._show_buttons()

    def _registered(self) -> bool:
        return any(pick(r, "outcome") in ("registered", "modified") for r in self.ctx.last_registration)

    def _show_buttons(self) -> None:
        done = self._registered()
        self.register.setVisible(not done)
        self.update_button.setVisible(done)
        self.cancel_reg.setVisible(done)
        self.completeChanged.emit()

    def send(self, cancel: bool) -> None:
        busy = self.tr("Cancelling the registration…") if cancel else self.tr("Registering with the server…")
        self.call(register_with, self.ctx.onboarding, self.ctx.session, self.ctx.profile, [self.ctx.server],
                  self.ctx.community_name(), cancel=cancel, request=self.ctx.statement_request, on_done=self._done,
                  busy=busy)

    def confirm_cancel(self) -> None:
        answer = QMessageBox.question(self, self.tr("Cancel the registration?"),
                                      self.tr("The server will forget your software's client ID. You can register "
                                              "again later. Cancel the registration now?"))
        if answer == QMessageBox.StandardButton.Yes:
            self.send(True)

    def _done(self, rows: list[Any]) -> None:
        self.ctx.last_registration = list(rows)
        self.ctx.set_profile(self.ctx.profile)  # onboarding.register saved it, off the GUI thread (fsync)
        row = rows[0] if rows else None
        outcome = pick(row, "outcome", default="error")
        if outcome in ("registered", "modified"):
            self.result.setText(self.tr("Registered. Your client ID is <b><tt>{cid}</tt></b>.").format(
                cid=pick(row, "client_id", default="?")))
            self.banner.show_status("ok", self.tr("The server accepted your registration ({outcome}).").format(
                outcome=self.tr(outcome)))
        elif outcome == "cancelled":
            self.result.setText(self.tr("The registration was cancelled. Register again to continue."))
            self.banner.show_status("info", self.tr("The registration was cancelled."))
        else:
            exp = explain_outcome(self, row)
            self.result.setText(self.tr("Not registered."))
            self.banner.show_status("error", exp.summary, exp.next_step, exp.details)
        self._show_diff(pick(row, "diff", default=[]) or [])
        self._show_buttons()

    def _show_diff(self, diff: list[dict]) -> None:
        self.diff.setVisible(bool(diff))
        self.diff.setRowCount(len(diff))
        for i, d in enumerate(diff):
            status = d.get("status", "same")
            granted = _show(d.get("granted"))
            if status != "same":
                granted += f"   ({self.tr(_DIFF_WORDS.get(status, status))})"
            for col, text in enumerate((d.get("field", ""), _show(d.get("requested")), granted)):
                self.diff.setItem(i, col, QTableWidgetItem(text))
        self.diff.resizeRowsToContents()

    def ready(self) -> bool:
        state = self.ctx.state()
        return self._registered() or (not self.ctx.last_registration and bool(state and state.has_registration))
