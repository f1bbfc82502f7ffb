"""Key: create the private key on this computer, or bring the PKCS#12 your community sent."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QButtonGroup, QLabel, QRadioButton, QWidget, QFormLayout

from app.ui.pages.base import StepPage
from app.ui.widgets import FileField, SecretField

KEY_CHOICES = (
    ("rsa-3072", "RSA 3072 (recommended)",
     "Accepted by every UDAP server and strong enough for years to come."),
    ("rsa-2048", "RSA 2048", "Only if your community requires it; the weakest choice allowed."),
    ("rsa-4096", "RSA 4096", "Stronger but slower; some servers take longer with it."),
    ("ec-p256", "EC P-256", "Small and fast; some servers accept only RSA."),
    ("ec-p384", "EC P-384", "Small and very strong; some servers accept only RSA."),
)
PKCS12 = "pkcs12"


class KeyPage(StepPage):
    STEP = "KEY"

    def build(self) -> None:
        self.setTitle(self.tr("Private key"))
        self.setSubTitle(self.tr("Create the private key that proves your identity. It is stored encrypted and "
                                 "never leaves this computer."))
        self.existing = self.text("")
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        for value, label, why in KEY_CHOICES:
            radio = QRadioButton(self.tr(label) + " — " + self.tr(why), self)
            radio.setAccessibleName(self.tr(label))
            radio.setAccessibleDescription(self.tr(why))
            self.group.addButton(radio)
            self.radios[value] = radio
            self.body.addWidget(radio)
        self.radios[PKCS12] = QRadioButton(self.tr("I received a PKCS#12 file (.p12 or .pfx) with key and "
                                                   "certificate from my community"), self)
        self.group.addButton(self.radios[PKCS12])
        self.body.addWidget(self.radios[PKCS12])
        self.p12_box = QWidget(self)
        form = QFormLayout(self.p12_box)
        self.p12_file = FileField(self.tr("PKCS#12 file"), self.tr("Choose or drop the .p12 / .pfx file"),
                                  self.tr("PKCS#12 (*.p12 *.pfx);;All files (*)"), self.p12_box)
        self.p12_file.edit.setMaximumHeight(60)
        self.p12_password = SecretField(self.tr("PKCS#12 password"), self.p12_box)
        file_label = QLabel(self.tr("PKCS#12 &file:"), self.p12_box)
        file_label.setBuddy(self.p12_file.edit)
        pw_label = QLabel(self.tr("Pass&word:"), self.p12_box)
        pw_label.setBuddy(self.p12_password.edit)
        form.addRow(file_label, self.p12_file)
        form.addRow(pw_label, self.p12_password)
        self.body.addWidget(self.p12_box)
        self.body.addStretch(1)
        self.radios["rsa-3072"].setChecked(True)
        self.p12_box.setVisible(False)
        self.radios[PKCS12].toggled.connect(self.p12_box.setVisible)
        self.group.buttonToggled.connect(lambda *_: self.completeChanged.emit())
        self.p12_file.changed.connect(self.completeChanged)
        self.first_field = self.radios["rsa-3072"]

    def chosen(self) -> str:
        return next(k for k, r in self.radios.items() if r.isChecked())

    def _imported(self, check: Any) -> None:
        self.ctx.last_check = check          # the certificate page shows it
        self.ctx.set_profile(self.ctx.profile)

    def has_key(self) -> bool:
        state = self.ctx.state()
        return bool(state and state.has_key)

    def load(self) -> None:
        has = self.has_key()
        self.existing.setVisible(has)
        if has:
            p = self.ctx.profile
            self.existing.setText(self.tr("This profile already has a private key ({kind}). Press Next to keep "
                                          "using it.").format(kind=p.key_type or self.tr("from a PKCS#12 file")))
        for radio in self.radios.values():
            radio.setEnabled(not has)
        self.p12_box.setEnabled(not has)

    def ready(self) -> bool:
        return self.has_key() or self.chosen() != PKCS12 or not self.p12_file.is_empty()

    def commit(self) -> Any:
        if self.has_key():
            return None
        s, p = self.ctx.session, self.ctx.profile
        choice = self.chosen()
        if choice == PKCS12:
            blobs = self.p12_file.blobs()
            return (self.ctx.onboarding.import_pkcs12, (s, p, blobs[0], self.p12_password.value()), {},
                    self._imported, self.tr("Opening the PKCS#12 file…"))
        return (self.ctx.onboarding.generate_key, (s, p, choice), {}, self.ctx.set_profile,
                self.tr("Creating your key… this can take a few seconds; the window stays usable."))
