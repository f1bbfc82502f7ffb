"""The passphrase prompt used when this computer has no secure keyring.

A new key container asks twice (a mistyped new passphrase would lock the key away for good) and
refuses short ones before the core does; opening an existing one asks once. The dialog runs on
the GUI thread; ``GuiPrompt`` lets a worker thread wait for it.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from app.ui.tasks import GuiPrompt

MIN_LENGTH = 12  # app.core.secrets.MIN_USER_PASSPHRASE (not imported: the core loads after the window)


class PassphraseDialog(QDialog):
    def __init__(self, create: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.create = create
        self.setWindowTitle(self.tr("Passphrase for your private key"))
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr(
            "This computer has no secure keyring, so a passphrase you choose protects your private key. "
            "Write it down somewhere safe: without it the key cannot be used, and nobody can recover it.")
            if create else self.tr("Enter the passphrase that protects your private key."), self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.first = QLineEdit(self)
        self.first.setEchoMode(QLineEdit.EchoMode.Password)
        first_label = QLabel(self.tr("&Passphrase:"), self)
        first_label.setBuddy(self.first)
        form.addRow(first_label, self.first)
        self.second = QLineEdit(self)
        self.second.setEchoMode(QLineEdit.EchoMode.Password)
        second_label = QLabel(self.tr("&Again:"), self)
        second_label.setBuddy(self.second)
        if create:
            form.addRow(second_label, self.second)
        else:
            self.second.hide()
            second_label.hide()
        layout.addLayout(form)
        self.problem = QLabel("", self)
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for edit in (self.first, self.second):
            edit.textChanged.connect(self._check)
        self._check()
        self.first.setFocus()

    def _check(self) -> None:
        text = self.first.text()
        problem = ""
        if self.create and text and len(text) < MIN_LENGTH:
            problem = self.tr("Use at least {n} characters; a few words make a good passphrase.").format(n=MIN_LENGTH)
        elif self.create and self.second.text() and self.second.text() != text:
            problem = self.tr("The two passphrases are different.")
        self.problem.setText(("✗ " + problem) if problem else "")
        self.problem.setAccessibleName(self.problem.text())
        ok = bool(text) and not problem and (not self.create or self.second.text() == text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def passphrase(self) -> str:
        return self.first.text()


def ask_passphrase_dialog(parent: Any, dialog: Callable[[bool, Any], Any] = PassphraseDialog) -> GuiPrompt:
    """``ask(name, create)`` for the core, callable from worker threads; Cancel stops the step."""

    def ask(name: str, create: bool = False) -> str:
        box = dialog(create, parent)
        try:
            if box.exec() != QDialog.DialogCode.Accepted:
                raise KeyboardInterrupt
            return box.passphrase()
        finally:
            box.first.clear()
            box.second.clear()
            box.deleteLater()

    return GuiPrompt(ask)
