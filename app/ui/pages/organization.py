"""Organization: who you are and the client URI that will name your software everywhere."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QLineEdit

from app.ui.pages.base import StepPage

REQUIRED = ("name", "org_name", "client_name", "client_uri", "contact")


class OrganizationPage(StepPage):
    STEP = "ORGANIZATION"

    def build(self) -> None:
        self.setTitle(self.tr("Your organization"))
        self.setSubTitle(self.tr("Tell us who you are: these details go into your certificate request and "
                                 "into every registration."))
        form = self.form()
        self.fields: dict[str, QLineEdit] = {}
        self.hints: dict[str, QLabel] = {}
        rows = [
            ("name", self.tr("&Profile name:"), "my-clinic",
             self.tr("A short name for this setup on this computer: letters, digits, spaces, '-', '_' or '.'.")),
            ("org_name", self.tr("&Organization:"), self.tr("e.g. Riverside Family Practice"),
             self.tr("Your organization's legal name.")),
            ("client_name", self.tr("&Software name:"), self.tr("e.g. Riverside Records Sync"),
             self.tr("What server operators will see as the name of your software.")),
            ("client_uri", self.tr("Client &URI:"), "https://riverside.example.org/udap",
             self.tr("A web address you control that names your software. It goes into your certificate and "
                     "must match it exactly, character for character.")),
            ("contact", self.tr("Contact &e-mail:"), "it@riverside.example.org",
             self.tr("Who a server operator should write to about this connection.")),
            ("org_id", self.tr("Organization &ID (optional):"), self.tr("e.g. urn:oid:2.16.840.1.113883.4.6#1234567893"),
             self.tr("An identifier for your organization such as your NPI as a URI; leave empty if unsure.")),
        ]
        for key, label_text, placeholder, help_text in rows:
            edit = QLineEdit(self)
            edit.setPlaceholderText(placeholder)
            edit.setToolTip(help_text)
            edit.setAccessibleDescription(help_text)
            label = QLabel(label_text, self)
            label.setBuddy(edit)
            form.addRow(label, edit)
            hint = QLabel(help_text, self)
            hint.setWordWrap(True)
            hint.setStyleSheet("color: palette(placeholder-text);")
            form.addRow("", hint)
            edit.textChanged.connect(self.completeChanged)
            self.fields[key] = edit
            self.hints[key] = hint
        self.uri_help = self.hints["client_uri"].text()
        self.uri_error = ""
        self.fields["client_uri"].textChanged.connect(self.check_uri)
        self.fields["name"].setText("my-clinic")
        self.saved_note = self.text("")
        self.first_field = self.fields["name"]

    def load(self) -> None:
        p = self.ctx.profile
        existing = p is not None
        if existing:
            values = {"name": p.name, "org_name": p.org_name, "client_name": p.client_name,
                      "client_uri": p.client_uri, "contact": (p.contacts[0] if p.contacts else "").removeprefix("mailto:"),
                      "org_id": p.org_id or ""}
            for key, value in values.items():
                self.fields[key].setText(value)
        locked_uri = existing and bool(p.csr_pem or p.certificate_chain_pem)
        self.fields["name"].setReadOnly(existing)
        self.fields["client_uri"].setReadOnly(locked_uri)
        notes = []
        if existing:
            notes.append(self.tr("Changes are saved in the profile when you press Next."))
        if locked_uri:
            notes.append(self.tr("The client URI is fixed: your certificate request already contains it. To use "
                                 "another one, start a new profile from the first page."))
        self.saved_note.setText(" ".join(notes))
        self.check_uri()

    def on_revisit(self) -> None:
        self.load()

    def check_uri(self) -> None:
        """Live validation: the client URI is the value most often mistyped, and it can never change later."""
        uri = self.value("client_uri")
        hint = self.hints["client_uri"]
        self.uri_error = ""
        if not uri or self.ctx.backend is None:
            hint.setText(self.uri_help)
        else:
            try:
                warnings = self.ctx.onboarding.check_client_uri(uri)
            except Exception as exc:  # noqa: BLE001 - explained under the field
                exp = self.ctx.explain(exc)
                self.uri_error = exp.summary
                hint.setText("✗ " + exp.summary + " " + exp.next_step)
            else:
                from app.ui.feedback_table import CLIENT_URI_WARNINGS

                said = [CLIENT_URI_WARNINGS.get(w, w) for w in warnings]
                hint.setText("⚠ " + " ".join(said) if said else
                             "✓ " + self.tr("Looks right. Your certificate must contain exactly this URI."))
        hint.setAccessibleDescription(hint.text())
        self.completeChanged.emit()

    def value(self, key: str) -> str:
        return self.fields[key].text().strip()

    def ready(self) -> bool:
        return all(self.value(k) for k in REQUIRED) and not self.uri_error

    def commit(self) -> Any:
        p = self.ctx.profile
        if p is not None:
            changes = self.changes()
            if not changes:
                return None
            return (self.ctx.onboarding.update_profile, (self.ctx.session, p), changes, self._updated,
                    self.tr("Saving your changes…"))
        kwargs = {"org_name": self.value("org_name"), "client_name": self.value("client_name"),
                  "client_uri": self.value("client_uri"), "contact": self.value("contact"),
                  "org_id": self.value("org_id") or None, "community": self.ctx.community}
        return (self.ctx.onboarding.create_profile, (self.ctx.session, self.value("name")), kwargs, self._created,
                self.tr("Saving your profile…"))

    def _updated(self, profile: Any) -> None:
        self.ctx.set_profile(profile)
        self.load()

    def changes(self) -> dict[str, Any]:
        p = self.ctx.profile
        out: dict[str, Any] = {}
        for key in ("org_name", "client_name", "client_uri"):
            if self.value(key) != getattr(p, key):
                out[key] = self.value(key)
        if ("mailto:" + self.value("contact").removeprefix("mailto:")) not in (p.contacts or [])[:1]:
            out["contact"] = self.value("contact")
        if (self.value("org_id") or None) != (p.org_id or None) and self.value("org_id"):
            out["org_id"] = self.value("org_id")
        return out

    def _created(self, result: Any) -> None:
        profile, warnings = result
        self.ctx.uri_warnings = list(warnings or [])
        self.ctx.set_profile(profile)
        self.load()  # Back does not re-initialize a page: lock the name now
