"""The form for a trust community that is not in the list yet: URI, trust anchor, optional TLS root, servers.

The anchor's SHA-256 fingerprint is shown as soon as it is read, next to an optional field for the
value the community published, so the user compares before anything is saved. The page commits
through ``onboarding.add_community``, which repeats the comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QWidget)

FILE_LIMIT = 1 * 2**20  # an anchor is a few KiB; anything bigger is the wrong file


class NewCommunityForm(QWidget):
    changed = Signal()

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.anchor_bytes: bytes = b""
        self.tls_bytes: bytes = b""
        self.fingerprints: list[str] = []
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        def row(label_text: str, widget: QWidget, help_text: str = "") -> None:
            label = QLabel(label_text, self)
            label.setBuddy(widget)
            if help_text:
                widget.setToolTip(help_text)
                widget.setAccessibleDescription(help_text)
            form.addRow(label, widget)

        self.name = QLineEdit(self)
        self.name.setPlaceholderText(self.tr("e.g. Carequality test network"))
        row(self.tr("Na&me:"), self.name, self.tr("A name for this community on this computer."))
        self.uri = QLineEdit(self)
        self.uri.setPlaceholderText("urn:oid:2.16.840.1.113883.3.7204.1.5")
        row(self.tr("Community &URI:"), self.uri,
            self.tr("The community's identifier as its onboarding guide gives it; servers use it to pick the "
                    "right trust list."))
        self.anchor = QPlainTextEdit(self)
        self.anchor.setTabChangesFocus(True)
        self.anchor.setMaximumHeight(70)
        self.anchor.setPlaceholderText(self.tr("Paste the trust anchor (-----BEGIN CERTIFICATE-----…) or choose its "
                                               "file."))
        self.anchor_file = QPushButton(self.tr("C&hoose anchor file…"), self)
        anchor_box = QHBoxLayout()
        anchor_box.addWidget(self.anchor, 1)
        anchor_box.addWidget(self.anchor_file)
        anchor_label = QLabel(self.tr("&Trust anchor:"), self)
        anchor_label.setBuddy(self.anchor)
        self.anchor.setAccessibleName(self.tr("Trust anchor"))
        form.addRow(anchor_label, anchor_box)
        self.fingerprint = QLabel(self.tr("Fingerprint: (no anchor yet)"), self)
        self.fingerprint.setWordWrap(True)
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        small = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.fingerprint.setFont(small)  # 95 characters: the whole row, fixed pitch, to compare by eye
        form.addRow(self.fingerprint)
        self.published = QLineEdit(self)
        self.published.setPlaceholderText("3A:7F:…")
        row(self.tr("&Published fingerprint:"), self.published,
            self.tr("Optional but recommended: the SHA-256 fingerprint your community published. The anchor is "
                    "refused when it differs."))
        self.match = QLabel("", self)
        self.match.setWordWrap(True)
        form.addRow("", self.match)
        self.tls_label = QLabel(self.tr("none (the servers use ordinary web certificates)"), self)
        self.tls_file = QPushButton(self.tr("Choose TLS &root…"), self)
        tls_box = QHBoxLayout()
        tls_box.addWidget(self.tls_label, 1)
        tls_box.addWidget(self.tls_file)
        tls_title = QLabel(self.tr("TLS root (optional):"), self)
        self.tls_file.setAccessibleDescription(self.tr("Only when the community runs its servers with its own "
                                                       "TLS certificate authority."))
        form.addRow(tls_title, tls_box)
        self.servers = QPlainTextEdit(self)
        self.servers.setTabChangesFocus(True)
        self.servers.setMaximumHeight(52)
        self.servers.setPlaceholderText("https://fhir.example.net/r4")
        servers_label = QLabel(self.tr("&Servers (one base URL per line):"), self)
        servers_label.setBuddy(self.servers)
        self.servers.setAccessibleName(self.tr("Server base URLs"))
        form.addRow(servers_label, self.servers)

        self.anchor.textChanged.connect(self._anchor_pasted)
        self.anchor_file.clicked.connect(self.choose_anchor)
        self.tls_file.clicked.connect(self.choose_tls)
        self.published.textChanged.connect(self._compare)
        for signal in (self.name.textChanged, self.uri.textChanged):
            signal.connect(self.changed)

    # ----------------------------------------------------------------- anchor

    def choose_anchor(self) -> None:
        self._choose(self.tr("Trust anchor"), "*.pem *.crt *.cer *.der *.p7b *.p7c", self.load_anchor_file)

    def _choose(self, title: str, patterns: str, then) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, "",
                                              self.tr("Certificates ({patterns});;All files (*)").format(
                                                  patterns=patterns))
        if path:
            then(path)

    def load_anchor_file(self, path: str) -> None:
        data = _read(path)
        if data is None:
            self._set_anchor(b"", self.tr("This file cannot be read or is too large for a certificate: {path}")
                             .format(path=path))
            return
        self.anchor.blockSignals(True)
        self.anchor.setPlainText(self.tr("(from file {name})").format(name=Path(path).name))
        self.anchor.blockSignals(False)
        self._set_anchor(data)

    def _anchor_pasted(self) -> None:
        self._set_anchor(self.anchor.toPlainText().encode("utf-8", "replace"))

    def _set_anchor(self, data: bytes, problem: str = "") -> None:
        self.anchor_bytes = data
        self.fingerprints = []
        if problem:
            self.fingerprint.setText("✗ " + problem)
        elif not data.strip():
            self.fingerprint.setText(self.tr("Fingerprint: (no anchor yet)"))
        else:
            try:
                previews = self.ctx.onboarding.read_anchors(data)
            except Exception as exc:  # noqa: BLE001 - explained in place, never a crash
                self.fingerprint.setText("✗ " + self.ctx.explain(exc).summary)
            else:
                self.fingerprints = [p.fingerprint for p in previews]
                lines = []
                for p in previews:
                    note = "" if p.is_ca else self.tr("  ✗ not a certificate authority: this is not an anchor")
                    lines.append(self.tr("SHA-256 fingerprint of {subject}:\n{fp}{note}").format(
                        subject=p.subject, fp=p.fingerprint, note=note))
                self.fingerprint.setText("\n".join(lines))
        self._compare()

    def _compare(self) -> None:
        wanted = _normalize(self.published.text())
        if not wanted:
            self.match.setText(self.tr("Compare the fingerprint above with the one your community published "
                                       "(or paste it in the field above)."))
        elif len(wanted) != 95:  # 32 hex pairs with colons
            self.match.setText(self.tr("✗ That is not a whole SHA-256 fingerprint (32 pairs of hex digits)."))
        elif not self.fingerprints:
            self.match.setText("")
        elif wanted in self.fingerprints:
            self.match.setText(self.tr("✓ Matches the published fingerprint."))
        else:
            self.match.setText(self.tr("✗ Does not match the published fingerprint: do not use this anchor."))
        self.changed.emit()

    # ----------------------------------------------------------------- TLS root

    def choose_tls(self) -> None:
        self._choose(self.tr("TLS root certificate"), "*.pem *.crt *.cer *.der", self.load_tls_file)

    def load_tls_file(self, path: str) -> None:
        data = _read(path)
        self.tls_bytes = data or b""
        self.tls_label.setText(Path(path).name if data else self.tr("✗ cannot read {path}").format(path=path))

    # ----------------------------------------------------------------- for the page

    def ready(self) -> bool:
        wanted = _normalize(self.published.text())
        return bool(self.name.text().strip() and self.uri.text().strip() and self.fingerprints
                    and (not wanted or wanted in self.fingerprints))

    def add_call(self) -> tuple:
        """(fn, args, kwargs) for the task that adds the community."""
        servers = [line.strip() for line in self.servers.toPlainText().splitlines() if line.strip()]
        kwargs = {"tls_anchors": [self.tls_bytes] if self.tls_bytes else [], "servers": servers,
                  "expected_fingerprint": self.published.text().strip() or None}
        return (self.ctx.onboarding.add_community,
                (self.ctx.session, self.name.text().strip(), self.uri.text().strip(), [self.anchor_bytes]), kwargs)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(FILE_LIMIT + 1)
    except OSError:
        return None
    return data if len(data) <= FILE_LIMIT else None


def _normalize(text: str) -> str:
    """The community module's form (any case, any separators -> AA:BB:...); imported when first typed."""
    from app.core.community import normalize_fingerprint

    return normalize_fingerprint(text)
