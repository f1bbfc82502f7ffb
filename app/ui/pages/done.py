"""Done: what was created and where, when it expires, evidence export, and more servers at once."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton

from app.ui.context import pick
from app.ui.pages.base import StepPage
from app.ui.pages.connect import explain_outcome, register_with
from app.ui.pages.details import known_servers
from app.ui.widgets import ReportRow, ReportTable


class DonePage(StepPage):
    STEP = "DONE"

    def build(self) -> None:
        self.setTitle(self.tr("Finished"))
        self.setSubTitle(self.tr("Your software is set up. Here is what was created, where it is kept, and when "
                                 "to renew it."))
        self.summary = self.text("", rich=True)
        row = QHBoxLayout()
        self.export = QPushButton(self.tr("&Export evidence…"), self)
        row.addWidget(self.export)
        row.addStretch(1)
        self.body.addLayout(row)
        more_label = QLabel(self.tr("Register with &more servers of this community (one address per line):"), self)
        more_label.setWordWrap(True)
        self.servers = QPlainTextEdit(self)
        self.servers.setTabChangesFocus(True)
        self.servers.setMaximumHeight(80)
        self.servers.setPlaceholderText("https://fhir.example.net/r4")
        self.servers.setAccessibleName(self.tr("More server addresses"))
        more_label.setBuddy(self.servers)
        self.body.addWidget(more_label)
        self.body.addWidget(self.servers)
        more_row = QHBoxLayout()
        self.more = QPushButton(self.tr("Re&gister with these servers"), self)
        self.details = QPushButton(self.tr("Change the registration &details first…"), self)
        more_row.addWidget(self.more)
        more_row.addWidget(self.details)
        more_row.addStretch(1)
        self.body.addLayout(more_row)
        self.results = ReportTable(self.tr("Results per server"), self,
                                   (self.tr("Status"), self.tr("Server"), self.tr("What happened"), self.tr("What to do")))
        self.results.setVisible(False)
        self.body.addWidget(self.results, 1)
        self.body.addStretch(0)
        self.export.clicked.connect(self.export_evidence)
        self.more.clicked.connect(self.register_more)
        self.details.clicked.connect(self.more_servers)
        self.servers.textChanged.connect(lambda: self.more.setEnabled(bool(self.server_list())))
        self.first_field = self.export

    def load(self) -> None:
        self.show_summary()
        registered = {r.get("server") for r in (self.ctx.profile.registrations or {}).values()}
        self.servers.setPlainText("\n".join(s for s in known_servers(self.ctx) if s not in registered))
        self.more.setEnabled(bool(self.server_list()))

    def show_summary(self) -> None:
        p, s = self.ctx.profile, self.ctx.session
        folder = s.profiles.path(p.name)
        leaf = p.leaf_certificate() if hasattr(p, "leaf_certificate") else None
        items = [
            self.tr("Profile <b>{name}</b> for {org}, client URI <tt>{uri}</tt>.").format(
                name=_h(p.name), org=_h(p.org_name), uri=_h(p.client_uri)),
            self.tr("Kept in the folder <tt>{folder}</tt>.").format(folder=_h(str(folder))),
            (self.tr("Private key ({kind}): stored encrypted in that folder; it is protected by the passphrase "
                     "you chose, which udap-onboard does not keep. Back up the folder; never e-mail the key.")
             if (p.extra or {}).get("key_protection") == "passphrase" else
             self.tr("Private key ({kind}): stored encrypted in that folder; the password protecting it is in "
                     "your system keyring ({store}), under the name udap-onboard. Back up the folder; never "
                     "e-mail the key.")).format(kind=_h(p.key_type or "?"),
                                                store=_h(_store_label((p.extra or {}).get("key_protection")))),
        ]
        if leaf is not None:
            days = (leaf.not_valid_after_utc - self.ctx.now()).days
            items.append(self.tr("Certificate valid until {date} ({n} days). Renew it before then and register "
                                 "again.").format(date=leaf.not_valid_after_utc.date().isoformat(), n=days))
        regs = list((p.registrations or {}).values())
        for r in regs:
            items.append(self.tr("Registered at {endpoint}: client ID <tt>{cid}</tt>.").format(
                endpoint=_h(r.get("endpoint", "?")), cid=_h(r.get("client_id", "?"))))
        if not regs:
            items.append(self.tr("Not registered with any server yet."))
        self.summary.setText("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")

    def server_list(self) -> list[str]:
        return list(dict.fromkeys(line.strip() for line in self.servers.toPlainText().splitlines() if line.strip()))

    def register_more(self) -> None:
        """Several servers at once (the core runs them concurrently); one result row each."""
        servers = self.server_list()
        if not servers:
            return
        self.call(register_with, self.ctx.onboarding, self.ctx.session, self.ctx.profile, servers,
                  self.ctx.community_name(), request=self.ctx.statement_request, on_done=self._registered,
                  busy=self.tr("Registering with {n} server(s)…").format(n=len(servers)))

    def _registered(self, rows: list[Any]) -> None:
        table = []
        for row in rows:
            outcome = pick(row, "outcome", default="error")
            server = pick(row, "server", default="?")
            if outcome in ("registered", "modified"):
                table.append(ReportRow("ok", server, self.tr("Registered; client ID {cid}.").format(
                    cid=pick(row, "client_id", default="?")), ""))
                continue
            exp = explain_outcome(self, row)
            table.append(ReportRow("error", server, exp.summary, exp.next_step, exp.details))
        self.results.set_rows(table)
        self.results.setVisible(True)
        ok = sum(1 for r in table if r.status == "ok")
        self.banner.show_status("ok" if ok == len(table) else "error",
                                self.tr("{ok} of {n} registrations succeeded.").format(ok=ok, n=len(table)),
                                "" if ok == len(table) else self.tr("Each row says what to do."))
        self.ctx.set_profile(self.ctx.profile)
        self.show_summary()  # the new client IDs; what the user typed stays

    def export_evidence(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export evidence"),
                                              f"{self.ctx.profile.name}-evidence.zip", self.tr("Zip archive (*.zip)"))
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        self.call(self.ctx.onboarding.export_evidence, self.ctx.session, self.ctx.profile, path,
                  on_done=lambda out: self.banner.show_status(
                      "ok", self.tr("Evidence saved to {path}. It holds the requests and answers, without secrets.")
                      .format(path=out)), busy=self.tr("Writing the evidence file…"))

    def more_servers(self) -> None:
        wizard = self.wizard()
        if wizard is not None:
            wizard.go_to_step("REGISTRATION_DETAILS")

    def commit(self) -> Any:
        return None


def _store_label(backend: str | None) -> str:
    """The keyring backend as people know it (keyring's class names are not)."""
    return {"SecretService": "Secret Service: GNOME Keyring or KWallet", "memory": "memory only, for tests"}.get(
        backend or "", backend or "keyring")


def _h(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
