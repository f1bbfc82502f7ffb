"""Certificate: bring in what the community issued and check it fits our key, URI and community."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton

from app.ui.context import pick
from app.ui.pages.base import StepPage
from app.ui.widgets import FileField, ReportRow, ReportTable, SecretField


def report_rows(page: Any, check: Any) -> list[ReportRow]:
    """CertificateCheck -> one row per certificate of the chain, then one per problem found."""
    tr, explain_code = page.tr, page.ctx.explain_code
    rows: list[ReportRow] = []
    summaries = {pick(s, "fingerprint"): s for s in (pick(check, "summaries", default=[]) or [])}
    trust = pick(check, "trust")
    trust_rows = pick(trust, "rows", default=[]) if trust else []
    for trow in trust_rows:
        reason = pick(trow, "reason", default="")
        summary = summaries.get(pick(trow, "fingerprint"), {})
        item = _item_name(trow, summary)
        if reason in ("ok", "anchor"):
            text = tr("Trusted root of your community." if reason == "anchor" else
                           "Valid and signed by the certificate above it in the chain.")
            rows.append(ReportRow("anchor" if reason == "anchor" else "ok", item, text, ""))
            continue
        exp = explain_code("trust", reason, pick(trow, "detail", default={}) or {})
        rows.append(ReportRow(pick(trow, "status", default="error"), item, exp.summary, exp.next_step, exp.details))
    if not trust_rows:
        for s in summaries.values():
            rows.append(ReportRow("skipped", _item_name({}, s), tr("The chain to the community was not checked."),
                                  ""))
    for problem in pick(check, "problems", default=[]) or []:
        exp = explain_code("certificate", problem.code, dict(pick(problem, "fields", default={}) or {}))
        rows.append(ReportRow(problem.severity, tr("Your certificate"), exp.summary, exp.next_step, exp.details))
    return rows


def _item_name(trust_row: Any, summary: Any) -> str:
    subject = pick(trust_row, "subject") or pick(summary, "subject", default="?")
    days = pick(summary, "days_left")
    cn = subject.split("CN=", 1)[-1].split(",", 1)[0] if "CN=" in subject else subject
    return f"{cn} ({days} days left)" if days is not None else cn


def blocking(check: Any) -> bool:
    """Errors stop Next; warnings (e.g. expires soon) do not."""
    if check is None:
        return True
    problems = pick(check, "problems", default=[]) or []
    trust = pick(check, "trust")
    return (any(p.severity == "error" for p in problems)
            or (trust is not None and pick(trust, "ok") is False)
            or pick(check, "ok") is False)


class CertificatePage(StepPage):
    STEP = "CERTIFICATE"

    def build(self) -> None:
        self.setTitle(self.tr("Certificate"))
        self.setSubTitle(self.tr("Bring in the certificate your community issued; we check that it fits your key, "
                                 "your client URI and your community before anything is sent."))
        form = QFormLayout()
        self.body.addLayout(form)
        self.files = FileField(self.tr("Certificate files or pasted text"),
                               self.tr("Paste the certificate text (-----BEGIN CERTIFICATE-----…) here, drop the "
                                       "files here, or use Choose file…"), parent=self)
        self.files.edit.setMaximumHeight(90)
        self.password = SecretField(self.tr("Password of a .p12 / .pfx file"), self)
        files_label = QLabel(self.tr("Certificate &files:"), self)
        files_label.setBuddy(self.files.edit)
        pw_label = QLabel(self.tr("Pass&word (only for .p12/.pfx):"), self)
        pw_label.setBuddy(self.password.edit)
        form.addRow(files_label, self.files)
        form.addRow(pw_label, self.password)
        row = QHBoxLayout()
        self.check = QPushButton(self.tr("&Import and check"), self)
        row.addWidget(self.check)
        row.addStretch(1)
        self.body.addLayout(row)
        self.summary = self.text("")
        self.table = ReportTable(self.tr("Certificate check results"), self,
                                 (self.tr("Status"), self.tr("Certificate"), self.tr("What we found"),
                                  self.tr("What to do")))
        self.body.addWidget(self.table, 1)
        self.check.clicked.connect(self.import_and_check)
        self.files.changed.connect(lambda: self.check.setEnabled(not self.files.is_empty()))
        self.check.setEnabled(False)
        self.first_field = self.files.edit

    def load(self) -> None:
        self.ctx.last_check = None
        self.table.set_rows([])
        self.summary.setText("")
        if self.ctx.profile.certificate_chain_pem:
            self.summary.setText(self.tr("Checking the certificate saved in this profile…"))
            self.call(self.ctx.onboarding.check_certificate, self.ctx.session, self.ctx.profile,
                      on_done=self._checked, busy=self.tr("Checking the certificate and its chain…"))
        else:
            self.summary.setText(self.tr("No certificate yet. When your community sends it, add it above."))

    def import_and_check(self) -> None:
        password = self.password.value() or None
        self.call(self.ctx.onboarding.import_certificate, self.ctx.session, self.ctx.profile, self.files.blobs(),
                  password=password, on_done=self._imported, busy=self.tr("Reading and checking the certificate…"))

    def _imported(self, check: Any) -> None:
        self.ctx.set_profile(self.ctx.profile)  # onboarding.import_certificate saved it when usable
        self._checked(check)

    def _checked(self, check: Any) -> None:
        self.ctx.last_check = check
        self.table.set_rows(report_rows(self, check))
        if blocking(check):
            self.summary.setText(self.tr("This certificate cannot be used yet: see the rows marked Problem."))
            self.banner.show_status("error", self.tr("The certificate has a problem that must be fixed first."),
                                    self.tr("Each row says what to do. Usually your community must issue a "
                                            "corrected certificate."))
        else:
            warnings = any(r.status == "warning" for r in self.table.rows)
            self.summary.setText(self.tr("The certificate fits your key and client URI and chains to your "
                                         "community."))
            self.banner.show_status("warning" if warnings else "ok",
                                    self.tr("Certificate accepted, with a warning to read.") if warnings
                                    else self.tr("Certificate accepted. Press Next."))
        self.completeChanged.emit()

    def ready(self) -> bool:
        return self.ctx.last_check is not None and not blocking(self.ctx.last_check)
