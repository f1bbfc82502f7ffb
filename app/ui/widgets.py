"""Reusable widgets: file/paste/drop field, secret field, PEM and JWT views, report table, banner.

Status is always shown as an icon AND a word (never colour alone), and every widget that takes
input carries an accessible name so a screen reader can say what it is for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QAccessible, QAccessibleEvent, QFont, QFontDatabase, QGuiApplication, QIcon
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QFileDialog, QFrame, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSizePolicy,
                               QStyle, QTableWidget, QTableWidgetItem, QTabWidget, QToolButton,
                               QVBoxLayout, QWidget)

MAX_INPUT_BYTES = 10 * 2**20


def _tr(text: str) -> str:
    return QApplication.translate("widgets", text)


def read_bounded(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read at most ``limit`` bytes; a bigger file is refused rather than loaded into memory."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(_tr("The file {name} is larger than {mib} MiB; this is not a certificate file.")
                         .format(name=Path(path).name, mib=limit // 2**20))
    return data


# ---------------------------------------------------------------------------------------- status

STATUS_WORDS = {"ok": "OK", "error": "Problem", "warning": "Warning", "info": "Note", "busy": "Working",
                "anchor": "Trusted root", "skipped": "Not checked"}
_STATUS_ICONS = {"ok": QStyle.StandardPixmap.SP_DialogApplyButton,
                 "anchor": QStyle.StandardPixmap.SP_DialogApplyButton,
                 "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
                 "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
                 "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
                 "skipped": QStyle.StandardPixmap.SP_MessageBoxInformation,
                 "busy": QStyle.StandardPixmap.SP_BrowserReload}
_STATUS_MARKS = {"ok": "✓", "anchor": "✓", "error": "✗", "warning": "!", "info": "i", "busy": "…",
                 "skipped": "–"}


def status_icon(kind: str) -> QIcon:
    pixmap = _STATUS_ICONS.get(kind, QStyle.StandardPixmap.SP_MessageBoxInformation)
    return QApplication.style().standardIcon(pixmap)


def status_word(kind: str) -> str:
    return _tr(STATUS_WORDS.get(kind, kind.capitalize()))


class StatusBanner(QFrame):
    """One-line outcome of the page's last action; announces itself to assistive technology."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.icon = QLabel(self)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setStyleSheet("color: palette(mid);")
        self.details_button = QToolButton(self)
        self.details_button.setText(_tr("Details"))
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self.details.setVisible)
        row = QHBoxLayout()
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.text, 1)
        row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        box = QVBoxLayout(self)
        box.setContentsMargins(8, 6, 8, 6)
        box.addLayout(row)
        box.addWidget(self.details)
        self.kind = ""
        self.clear()

    def show_status(self, kind: str, text: str, next_step: str = "", details: str = "") -> None:
        self.kind = kind
        word = status_word(kind)
        body = f"<b>{_escape(word)}:</b> {_escape(text)}"
        if next_step:
            body += f"<br>{_escape(_tr('What to do:'))} {_escape(next_step)}"
        self.text.setText(body)
        self.icon.setPixmap(status_icon(kind).pixmap(20, 20))
        self.details.setText(details)
        self.details_button.setVisible(bool(details))
        self.details_button.setChecked(False)
        self.details.setVisible(False)
        spoken = f"{word}: {text} {next_step}".strip()
        self.setAccessibleName(spoken)
        self.setAccessibleDescription(details)
        self.setVisible(True)
        if QAccessible.isActive():
            QAccessible.updateAccessibility(QAccessibleEvent(self, QAccessible.Event.NameChanged))
            QAccessible.updateAccessibility(QAccessibleEvent(self, QAccessible.Event.Alert))

    def show_error(self, explanation: Any) -> None:
        """Show an ``Explanation`` (summary, next_step, details) from feedback.describe."""
        self.show_status("error", explanation.summary, explanation.next_step, explanation.details)

    def plain_text(self) -> str:
        return self.accessibleName()

    def clear(self) -> None:
        self.kind = ""
        self.text.clear()
        self.details.clear()
        self.setAccessibleName("")
        self.setVisible(False)


def _escape(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ------------------------------------------------------------------------------------ file field

class _PasteEdit(QPlainTextEdit):
    """Paste target that turns dropped or pasted *files* into a file load instead of their path."""

    files_dropped = Signal(list)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        paths = [u.toLocalFile() for u in source.urls() if u.isLocalFile()] if source.hasUrls() else []
        if paths:
            self.files_dropped.emit(paths)
        else:
            super().insertFromMimeData(source)


class FileField(QWidget):
    """Choose files, paste text, or drop files; ``blobs()`` gives the bytes (each at most 10 MiB)."""

    changed = Signal()

    def __init__(self, name: str, placeholder: str = "", file_filter: str = "", parent: QWidget | None = None,
                 limit: int = MAX_INPUT_BYTES) -> None:
        super().__init__(parent)
        self.limit = limit
        self.file_filter = file_filter or _tr("Certificates (*.pem *.crt *.cer *.der *.p7b *.p7c *.p12 *.pfx);;"
                                              "All files (*)")
        self._files: list[tuple[str, bytes]] = []
        self.edit = _PasteEdit(self)
        self.edit.setAccessibleName(name)
        self.edit.setPlaceholderText(placeholder or _tr("Paste the text here, or drop a file here"))
        self.edit.setTabChangesFocus(True)
        self.edit.setMinimumHeight(90)
        self.edit.files_dropped.connect(self.load_files)
        self.edit.textChanged.connect(self.changed)
        self.choose = QPushButton(_tr("Choose file…"), self)
        self.choose.setAccessibleName(_tr("Choose a file for: {name}").format(name=name))
        self.choose.clicked.connect(self._pick)
        self.clear_button = QPushButton(_tr("Clear"), self)
        self.clear_button.setAccessibleName(_tr("Clear: {name}").format(name=name))
        self.clear_button.clicked.connect(self.clear)
        self.files_label = QLabel(_tr("No file chosen."), self)
        self.files_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.files_label, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.edit)
        box.addLayout(buttons)
        self.setAcceptDrops(True)
        self.setFocusProxy(self.edit)
        self.error = ""

    def _pick(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, _tr("Choose files"), "", self.file_filter)
        if paths:
            self.load_files(paths)

    def load_files(self, paths: Iterable[str]) -> None:
        loaded, self.error = [], ""
        for p in paths:
            try:
                loaded.append((str(p), read_bounded(p, self.limit)))
            except (OSError, ValueError) as exc:
                self.error = str(exc) if isinstance(exc, ValueError) else _tr(
                    "Could not read {name}: {reason}").format(name=Path(p).name, reason=exc.strerror or exc)
        self._files.extend(loaded)
        names = ", ".join(Path(p).name for p, _ in self._files)
        self.files_label.setText(self.error or (_tr("Files: {names}").format(names=names) if names
                                                else _tr("No file chosen.")))
        self.changed.emit()

    def blobs(self) -> list[bytes]:
        out = [data for _, data in self._files]
        text = self.edit.toPlainText().strip()
        if text:
            out.append(text.encode("utf-8")[: self.limit])
        return out

    def is_empty(self) -> bool:
        return not self._files and not self.edit.toPlainText().strip()

    def clear(self) -> None:
        self._files = []
        self.error = ""
        self.edit.clear()
        self.files_label.setText(_tr("No file chosen."))
        self.changed.emit()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.load_files(paths)
            event.acceptProposedAction()


# ---------------------------------------------------------------------------------- secret field

class SecretField(QWidget):
    """A password line edit with a Show/Hide toggle; ``value()`` returns bytes."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(self)
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setAccessibleName(name)
        self.toggle = QToolButton(self)
        self.toggle.setCheckable(True)
        self.toggle.setText(_tr("Show"))
        self.toggle.setAccessibleName(_tr("Show the text of: {name}").format(name=name))
        self.toggle.toggled.connect(self._toggled)
        box = QHBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.edit, 1)
        box.addWidget(self.toggle)
        self.setFocusProxy(self.edit)

    def _toggled(self, shown: bool) -> None:
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.toggle.setText(_tr("Hide") if shown else _tr("Show"))

    def value(self) -> bytes:
        return self.edit.text().encode("utf-8")

    def clear(self) -> None:
        self.edit.clear()


# ----------------------------------------------------------------------------------- text views

def monospace_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


class PemView(QWidget):
    """Read-only monospace text with Copy (and optional Save) buttons."""

    save_requested = Signal()

    def __init__(self, name: str, parent: QWidget | None = None, can_save: bool = False) -> None:
        super().__init__(parent)
        self.view = QPlainTextEdit(self)
        self.view.setReadOnly(True)
        self.view.setFont(monospace_font())
        self.view.setAccessibleName(name)
        self.view.setTabChangesFocus(True)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.copy = QPushButton(_tr("Copy"), self)
        self.copy.setAccessibleName(_tr("Copy {name} to the clipboard").format(name=name))
        self.copy.clicked.connect(self.copy_to_clipboard)
        self.save = QPushButton(_tr("Save to file…"), self)
        self.save.setAccessibleName(_tr("Save {name} to a file").format(name=name))
        self.save.clicked.connect(self.save_requested)
        self.save.setVisible(can_save)
        self.copied = QLabel("", self)
        row = QHBoxLayout()
        row.addWidget(self.copy)
        row.addWidget(self.save)
        row.addWidget(self.copied, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.view)
        box.addLayout(row)

    def set_text(self, text: str) -> None:
        self.view.setPlainText(text or "")
        self.copied.clear()
        self.copy.setEnabled(bool(text))
        self.save.setEnabled(bool(text))

    def text(self) -> str:
        return self.view.toPlainText()

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.text())
        self.copied.setText(_tr("Copied."))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


class JwtView(QWidget):
    """A signed token as readable JSON (header, claims); the raw compact form under Advanced."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName(name)
        self.claims = QPlainTextEdit(self)
        self.header = QPlainTextEdit(self)
        for view, label in ((self.claims, _tr("Claims")), (self.header, _tr("Header"))):
            view.setReadOnly(True)
            view.setFont(monospace_font())
            view.setTabChangesFocus(True)
            view.setAccessibleName(f"{name}: {label}")
            self.tabs.addTab(view, label)
        self.advanced = QToolButton(self)
        self.advanced.setText(_tr("Advanced: show the raw signed token"))
        self.advanced.setCheckable(True)
        self.advanced.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.raw = PemView(_tr("{name}: raw token").format(name=name), self)
        self.raw.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.raw.setVisible(False)
        self.advanced.toggled.connect(self.raw.setVisible)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.tabs, 1)
        box.addWidget(self.advanced, 0, Qt.AlignmentFlag.AlignLeft)
        box.addWidget(self.raw)

    def set_token(self, token: str, header: dict | None, claims: dict | None) -> None:
        self.header.setPlainText(pretty_json(_shorten_x5c(header or {})))
        self.claims.setPlainText(pretty_json(claims or {}))
        self.raw.set_text(token or "")

    def clear(self) -> None:
        self.set_token("", {}, {})


def _shorten_x5c(header: dict) -> dict:
    """x5c entries are kilobytes of base64; show their start so the header stays readable."""
    out = dict(header)
    if isinstance(out.get("x5c"), list):
        out["x5c"] = [f"{c[:24]}… ({len(c)} characters)" if isinstance(c, str) and len(c) > 40 else c
                      for c in out["x5c"]]
    return out


# ---------------------------------------------------------------------------------- report table

@dataclass
class ReportRow:
    """One item of a report: status is ok/error/warning/info/anchor/skipped."""

    status: str
    item: str
    reason: str
    next_step: str = ""
    details: str = ""


class ReportTable(QTableWidget):
    """One row per item: icon + word for status, the item, the reason, what to do."""

    def __init__(self, name: str, parent: QWidget | None = None,
                 headers: tuple[str, str, str, str] | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setAccessibleName(name)
        self.setHorizontalHeaderLabels(list(headers or (_tr("Status"), _tr("Item"), _tr("What we found"),
                                                        _tr("What to do"))))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(True)
        self.setTabKeyNavigation(False)
        head = self.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.setColumnWidth(1, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.rows: list[ReportRow] = []

    def set_rows(self, rows: Iterable[ReportRow]) -> None:
        self.rows = list(rows)
        self.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            status = QTableWidgetItem(status_icon(row.status), f"{_STATUS_MARKS.get(row.status, '')} "
                                                                f"{status_word(row.status)}")
            status.setData(Qt.ItemDataRole.AccessibleTextRole, status_word(row.status))
            cells = [status, QTableWidgetItem(row.item), QTableWidgetItem(row.reason),
                     QTableWidgetItem(row.next_step)]
            for col, cell in enumerate(cells):
                if row.details:
                    cell.setToolTip(row.details)
                self.setItem(i, col, cell)
        self.resizeRowsToContents()

    def statuses(self) -> list[str]:
        return [r.status for r in self.rows]

    def text_of(self, row: int) -> str:
        return " | ".join(self.item(row, c).text() for c in range(self.columnCount()))
