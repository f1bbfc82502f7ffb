"""Widgets as a person meets them: files, paste, drop, secrets, PEM/JWT views, report rows, banner."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit, QWidget

from app.ui.widgets import FileField, JwtView, PemView, ReportRow, ReportTable, SecretField, StatusBanner


def test_file_field_reads_files_pasted_text_and_drops(qtbot, tmp_path):
    f = FileField("Certificate")
    qtbot.addWidget(f)
    a = tmp_path / "a.pem"
    a.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
    f.load_files([str(a)])
    assert f.blobs() == [a.read_bytes()]
    assert "a.pem" in f.files_label.text()
    f.edit.setPlainText("  pasted text  ")
    assert f.blobs()[-1] == b"pasted text"
    # a dropped/pasted *file* is loaded as a file, not inserted as its path
    b = tmp_path / "b.der"
    b.write_bytes(b"\x30\x82")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(b))])
    f.edit.insertFromMimeData(mime)
    assert b"\x30\x82" in f.blobs()
    assert str(b) not in f.edit.toPlainText()
    f.clear()
    assert f.is_empty() and f.blobs() == []


def test_file_field_refuses_files_over_the_limit(qtbot, tmp_path):
    f = FileField("Certificate", limit=16)
    qtbot.addWidget(f)
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * 17)
    f.load_files([str(big)])
    assert f.blobs() == []
    assert "big.pem" in f.error and "larger" in f.files_label.text()
    f.load_files([str(tmp_path / "missing.pem")])
    assert "missing.pem" in f.error


def test_secret_field_hides_until_shown(qtbot):
    s = SecretField("Password")
    qtbot.addWidget(s)
    qtbot.keyClicks(s.edit, "pass")
    s.edit.insert("wörd")  # QTest aborts on non-ASCII key clicks
    assert s.edit.echoMode() == QLineEdit.EchoMode.Password
    assert s.value() == "passwörd".encode()
    s.toggle.click()
    assert s.edit.echoMode() == QLineEdit.EchoMode.Normal and s.toggle.text() == "Hide"
    s.toggle.click()
    assert s.edit.echoMode() == QLineEdit.EchoMode.Password
    assert s.edit.accessibleName() == "Password"


def test_pem_view_is_read_only_and_copies(qtbot):
    v = PemView("Request")
    qtbot.addWidget(v)
    v.set_text("-----BEGIN CERTIFICATE REQUEST-----\nX\n")
    assert v.view.isReadOnly()
    v.copy.click()
    assert QGuiApplication.clipboard().text().startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert v.copied.text() == "Copied."


def test_jwt_view_shows_json_and_raw_only_under_advanced(qtbot):
    v = JwtView("Statement")
    qtbot.addWidget(v)
    v.show()
    v.set_token("aaa.bbb.ccc", {"alg": "RS256", "x5c": ["M" * 500]}, {"iss": "https://x.example/"})
    assert '"iss": "https://x.example/"' in v.claims.toPlainText()
    header = v.header.toPlainText()
    assert '"alg": "RS256"' in header and "M" * 100 not in header and "500 characters" in header
    assert not v.raw.isVisible()
    v.advanced.click()
    assert v.raw.isVisible() and v.raw.text() == "aaa.bbb.ccc"


def test_report_table_status_is_icon_and_word_never_colour_alone(qtbot):
    t = ReportTable("Results")
    qtbot.addWidget(t)
    t.set_rows([ReportRow("ok", "Leaf", "Valid."), ReportRow("error", "Intermediate", "Expired.", "Ask for a new one."),
                ReportRow("warning", "Leaf", "Expires in 12 days.", "Renew soon.")])
    assert t.rowCount() == 3
    words = [t.item(i, 0).text() for i in range(3)]
    assert words == ["✓ OK", "✗ Problem", "! Warning"]
    assert all(not t.item(i, 0).icon().isNull() for i in range(3))
    assert t.text_of(1) == "✗ Problem | Intermediate | Expired. | Ask for a new one."


def test_banner_announces_through_its_accessible_name(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    b = StatusBanner(parent)
    parent.show()
    assert not b.isVisible()
    b.show_status("error", "The server refused.", "Fix the URI.", "[registration.x] status: 400")
    assert b.isVisible()
    assert b.accessibleName() == "Problem: The server refused. Fix the URI."
    assert "Fix the URI." in b.text.text() and not b.details.isVisible()
    b.details_button.click()
    assert b.details.isVisible() and "status: 400" in b.details.text()
    b.clear()
    assert not b.isVisible() and b.accessibleName() == ""
