"""Done: what was created and where, when it expires, evidence export, more servers."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPushButton

from app.ui.pages.base import StepPage


class DonePage(StepPage):
    STEP = "DONE"

    def build(self) -> None:
        self.setTitle(self.tr("Finished"))
        self.setSubTitle(self.tr("Your software is set up. Here is what was created, where it is kept, and when "
                                 "to renew it."))
        self.summary = self.text("", rich=True)
        row = QHBoxLayout()
        self.export = QPushButton(self.tr("&Export evidence…"), self)
        self.more = QPushButton(self.tr("Register with &more servers"), self)
        row.addWidget(self.export)
        row.addWidget(self.more)
        row.addStretch(1)
        self.body.addLayout(row)
        self.body.addStretch(1)
        self.export.clicked.connect(self.export_evidence)
        self.more.clicked.connect(self.more_servers)
        self.first_field = self.export

    def load(self) -> None:
        p, s = self.ctx.profile, self.ctx.session
        folder = s.profiles.path(p.name)
        leaf = p.leaf_certificate() if hasattr(p, "leaf_certificate") else None
        items = [
            self.tr("Profile <b>{name}</b> for {org}, client URI <tt>{uri}</tt>.").format(
                name=_h(p.name), org=_h(p.org_name), uri=_h(p.client_uri)),
            self.tr("Kept in the folder <tt>{folder}</tt>.").format(folder=_h(str(folder))),
            self.tr("Private key ({kind}): stored encrypted in that folder; the password protecting it is in "
                    "your system keyring. Back up the folder; never e-mail the key.").format(
                kind=_h(p.key_type or "?")),
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


def _h(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
