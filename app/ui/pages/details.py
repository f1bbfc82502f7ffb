"""Registration details: what the software will ask a server for; the signed statement, linted live."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPlainTextEdit, QPushButton, QRadioButton, QTabWidget)

from app.ui.context import pick
from app.ui.pages.base import StepPage
from app.ui.pages.community import ensure_practice
from app.ui.widgets import JwtView, ReportRow, ReportTable

B2B, USER = "client_credentials", "authorization_code"


def discover_server(onboarding: Any, session: Any, server: str, community: str) -> Any:
    """Runs in a task: start the practice server if this profile uses it, then read the server's metadata."""
    ensure_practice(session, community)
    return onboarding.discover(session, server, community)


def preview_statement(onboarding: Any, session: Any, profile: Any, metadata: Any, request: Any) -> tuple:
    """Runs in a task: the live lint, and the signed statement when nothing blocks it."""
    findings = list(onboarding.lint_statement(session, profile, metadata, request))
    signed = None
    if not any(f.severity == "error" for f in findings):
        signed = onboarding.build_statement(session, profile, metadata, request)
    return findings, signed


def known_servers(ctx: Any) -> list[str]:
    servers = list(getattr(ctx.profile, "servers", []) or [])
    try:
        servers += list(ctx.session.communities.get(ctx.community_name()).servers)
    except Exception:  # noqa: BLE001 - an unknown community simply offers no servers
        pass
    if ctx.practice_info and ctx.practice_info.get("base_url"):
        servers.append(ctx.practice_info["base_url"])
    return list(dict.fromkeys(servers))


class DetailsPage(StepPage):
    STEP = "REGISTRATION_DETAILS"

    def build(self) -> None:
        self.setTitle(self.tr("Registration details"))
        self.setSubTitle(self.tr("Decide what your software will ask the server for. The defaults suit a "
                                 "back-office connection where no person signs in."))
        form = self.form()
        server_row = QHBoxLayout()
        self.server = QComboBox(self)
        self.server.setEditable(True)
        self.server.setAccessibleName(self.tr("Server address"))
        self.lookup = QPushButton(self.tr("&Look up"), self)
        server_row.addWidget(self.server, 1)
        server_row.addWidget(self.lookup)
        server_label = QLabel(self.tr("&Server:"), self)
        server_label.setBuddy(self.server)
        form.addRow(server_label, server_row)
        self.b2b = QRadioButton(self.tr("Back-o&ffice (B2B): no person signs in"), self)
        self.user = QRadioButton(self.tr("A &person signs in (authorization code)"), self)
        group = QButtonGroup(self)
        group.addButton(self.b2b)
        group.addButton(self.user)
        self.b2b.setChecked(True)
        kinds = QHBoxLayout()
        kinds.addWidget(self.b2b)
        kinds.addWidget(self.user)
        kinds.addStretch(1)
        form.addRow(self.tr("Kind of access:"), kinds)
        self.scopes = QListWidget(self)
        self.scopes.setAccessibleName(self.tr("Permissions (scopes)"))
        self.scopes.setMaximumHeight(96)
        scopes_label = QLabel(self.tr("Per&missions:"), self)
        scopes_label.setBuddy(self.scopes)
        form.addRow(scopes_label, self.scopes)
        self.scopes_hint = QLabel(self.tr("Read-only permissions are ticked; the list comes from the server."), self)
        form.addRow("", self.scopes_hint)
        self.redirects = QPlainTextEdit(self)
        self.redirects.setTabChangesFocus(True)
        self.redirects.setPlaceholderText("https://riverside.example.org/callback")
        self.redirects.setMaximumHeight(52)
        self.redirects_label = QLabel(self.tr("&Redirect URIs (one per line):"), self)
        self.redirects_label.setBuddy(self.redirects)
        self.logo = QLineEdit(self)
        self.logo.setPlaceholderText("https://riverside.example.org/logo.png")
        self.logo_label = QLabel(self.tr("Lo&go URI (PNG, JPEG or GIF):"), self)
        self.logo_label.setBuddy(self.logo)
        form.addRow(self.redirects_label, self.redirects)
        form.addRow(self.logo_label, self.logo)
        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName(self.tr("What will be sent"))
        self.lint = ReportTable(self.tr("Checks of the software statement"), self,
                                (self.tr("Status"), self.tr("Field"), self.tr("What we found"), self.tr("What to do")))
        self.jwt = JwtView(self.tr("Software statement"), self)
        self.tabs.addTab(self.lint, self.tr("Checks of what will be sent"))
        self.tabs.addTab(self.jwt, self.tr("The signed statement (decoded)"))
        self.body.addWidget(self.tabs, 1)
        self._set_user_fields(False)
        self.metadata: Any = None
        self.draft: Any = None
        self.findings: list = []
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(350)
        self.debounce.timeout.connect(self.rebuild)
        self.user.toggled.connect(self._set_user_fields)
        for signal in (self.user.toggled, self.scopes.itemChanged, self.redirects.textChanged, self.logo.textChanged):
            signal.connect(self._changed)
        self.lookup.clicked.connect(self.look_up)
        self.server.lineEdit().returnPressed.connect(self.look_up)
        self.first_field = self.server

    def _set_user_fields(self, on: bool) -> None:
        for w in (self.redirects, self.redirects_label, self.logo, self.logo_label):
            w.setVisible(on)

    def load(self) -> None:
        self.server.clear()
        self.server.addItems(known_servers(self.ctx))
        if self.ctx.server:
            self.server.setCurrentText(self.ctx.server)
        grants = getattr(self.ctx.profile, "grant_types", None) or [B2B]
        (self.user if USER in grants else self.b2b).setChecked(True)
        self.draft = None
        if self.server.currentText().strip():
            self.look_up()

    def look_up(self) -> None:
        server = self.server.currentText().strip()
        if not server:
            return
        self.ctx.server = server
        self.call(discover_server, self.ctx.onboarding, self.ctx.session, server, self.ctx.community_name(), on_done=self._discovered,
                  busy=self.tr("Reading the server's UDAP information…"))

    def _discovered(self, report: Any) -> None:
        self.ctx.discovery[self.ctx.server] = report
        self.metadata = pick(report, "metadata")
        supported = pick(self.metadata, "scopes_supported", default=[]) or []
        wanted = set(getattr(self.ctx.profile, "scopes", []) or [])
        self.scopes.blockSignals(True)
        self.scopes.clear()
        for scope in supported:
            item = QListWidgetItem(scope)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            default = scope in wanted if wanted else _read_only(scope)
            item.setCheckState(Qt.CheckState.Checked if default else Qt.CheckState.Unchecked)
            self.scopes.addItem(item)
        self.scopes.blockSignals(False)
        if not pick(report, "ok", default=True):
            self.banner.show_status("error", self.tr("This server's UDAP information did not pass the checks."),
                                    self.tr("The next page lists each check; do not register until the server's "
                                            "operator fixes it."))
        self.rebuild()

    def _changed(self, *_: Any) -> None:
        self.draft = None
        self.completeChanged.emit()
        self.debounce.start()

    def chosen_scope(self) -> str:
        return " ".join(self.scopes.item(i).text() for i in range(self.scopes.count())
                        if self.scopes.item(i).checkState() == Qt.CheckState.Checked)

    def request(self) -> Any:
        """The user's choices as onboarding.StatementRequest."""
        grant = USER if self.user.isChecked() else B2B
        redirects = [line.strip() for line in self.redirects.toPlainText().splitlines() if line.strip()]
        return self.ctx.onboarding.StatementRequest(
            grant=grant, scope=self.chosen_scope() or None,
            redirect_uris=redirects if grant == USER else [],
            logo_uri=(self.logo.text().strip() or None) if grant == USER else None)

    def rebuild(self) -> None:
        if self.metadata is None:
            return
        self.call(preview_statement, self.ctx.onboarding, self.ctx.session, self.ctx.profile, self.metadata,
                  self.request(), on_done=self._built, busy=self.tr("Checking…"))

    def _built(self, result: tuple) -> None:
        findings, signed = result
        self.findings = findings
        self.draft = signed
        if signed is not None:
            self.jwt.set_token(signed.token, signed.header, signed.claims)
        else:
            self.jwt.clear()
        rows = []
        for f in findings:
            exp = self.ctx.explain_code("statement", f.code, dict(pick(f, "detail", "fields", default={}) or {}))
            rows.append(ReportRow(f.severity, pick(f, "field", default="") or "", exp.summary, exp.next_step,
                                  exp.details))
        if not rows:
            rows.append(ReportRow("ok", self.tr("All fields"), self.tr("Everything a server checks is in order."), ""))
        self.lint.set_rows(rows)
        self.completeChanged.emit()

    def ready(self) -> bool:
        return self.draft is not None

    def commit(self) -> Any:
        request = self.request()
        self.ctx.statement_request = request
        p = self.ctx.profile
        p.grant_types = [request.grant]
        p.scopes = (request.scope or "").split()
        if self.ctx.server not in p.servers:
            p.servers.append(self.ctx.server)
        if request.grant == USER:
            p.extra["redirect_uris"] = list(request.redirect_uris)
            p.extra["logo_uri"] = request.logo_uri
        return None


def _read_only(scope: str) -> bool:
    """Safe default: read-only permissions (SMART v2 ``.rs`` / v1 ``.read``)."""
    return scope.endswith(".rs") or scope.endswith(".read")
