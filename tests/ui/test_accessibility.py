"""Every input has a name a screen reader can say; the first pages work with the keyboard alone;
the start-up imports only Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QApplication, QComboBox, QLabel, QLineEdit,
                               QPlainTextEdit, QWizard)

from app.ui.steps import STEP_NAMES, page_id
from tests.ui.conftest import ORG, walk_to

INPUTS = (QLineEdit, QPlainTextEdit, QComboBox, QAbstractItemView, QAbstractButton)


def unnamed_inputs(page) -> list[str]:
    """Visible inputs with neither an accessible name, a label buddy, nor (buttons) a text."""
    from PySide6.QtWidgets import QHeaderView, QTabBar, QWidget

    buddies = {id(label.buddy()) for label in page.findChildren(QLabel) if label.buddy() is not None}
    missing = []
    for w in page.findChildren(QWidget):
        if not isinstance(w, INPUTS) or isinstance(w, QHeaderView) or not w.isVisibleTo(page):
            continue
        if isinstance(w.parent(), (QComboBox, QTabBar, QAbstractItemView)):  # Qt's own inner parts
            continue
        named = bool(w.accessibleName()) or id(w) in buddies
        if isinstance(w, QAbstractButton) and w.text().replace("&", "").strip():
            named = True
        if not named:
            missing.append(f"{type(w).__name__} {w.objectName()!r}")
    return missing


def test_every_input_on_every_page_has_an_accessible_name_or_label(wizard):
    seen = []
    pages = ["START", *STEP_NAMES]
    for name in pages:
        if name != "START":
            walk_to(wizard, name)
        page = wizard.currentPage()
        assert page.findChildren(QAbstractButton) or page.findChildren(QLineEdit), name
        assert unnamed_inputs(page) == [], name
        assert page.subTitle(), f"{name} says what it is for"
        seen.append(name)
    assert seen[-1] == "DONE"


def test_the_hidden_user_login_fields_are_labelled_too(wizard):
    walk_to(wizard, "REGISTRATION_DETAILS")
    page = wizard.currentPage()
    page.user.setChecked(True)
    assert unnamed_inputs(page) == []


def test_focus_starts_on_the_first_field(wizard, qtbot):
    walk_to(wizard, "ORGANIZATION")
    page = wizard.currentPage()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.fields["name"], timeout=2000)
    walk_to(wizard, "KEY")
    qtbot.waitUntil(lambda: QApplication.focusWidget() is wizard.currentPage().radios["rsa-3072"], timeout=2000)


def test_keyboard_only_through_the_first_pages(wizard, qtbot, backend):
    """Enter = Next, Tab between fields, typing: no mouse from Start to the certificate request."""
    qtbot.keyClick(wizard.currentPage(), Qt.Key.Key_Return)          # Start: "new profile" is preselected
    assert wizard.currentId() == page_id("COMMUNITY")
    qtbot.waitUntil(lambda: QApplication.focusWidget() is wizard.currentPage().list, timeout=2000)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)       # move to the other community...
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Up)         # ...and back to the practice one
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)    # Enter = the default button, Next
    assert wizard.currentId() == page_id("ORGANIZATION")
    page = wizard.currentPage()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.fields["name"], timeout=2000)
    page.fields["name"].selectAll()
    for key in ("name", "org_name", "client_name", "client_uri", "contact"):
        focused = QApplication.focusWidget()
        assert focused is page.fields[key], f"Tab order broken before {key}: {focused}"
        qtbot.keyClicks(focused, ORG[key])
        qtbot.keyClick(focused, Qt.Key.Key_Tab)
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert wizard.currentId() == page_id("KEY")
    assert backend.session.profiles.list() == ["riverside"]
    qtbot.waitUntil(lambda: QApplication.focusWidget() is wizard.currentPage().radios["rsa-3072"], timeout=2000)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert wizard.currentId() == page_id("CSR")
    assert backend.onboarding.called("generate_key")


def test_mnemonics_do_not_collide_with_the_wizard_buttons(wizard):
    """Alt+N and Alt+B belong to Next and Back; a page using them would steal the keyboard route."""
    for name in STEP_NAMES:
        walk_to(wizard, name)
        page = wizard.currentPage()
        texts = [w.text() for w in page.findChildren(QAbstractButton) if w.isVisibleTo(page)]
        texts += [w.text() for w in page.findChildren(QLabel) if w.buddy() is not None]
        clashes = [t for t in texts if "&n" in t.lower() or "&b" in t.lower()]
        assert clashes == [], f"{name}: {clashes}"


def test_start_up_imports_only_qt():
    root = Path(__file__).resolve().parents[2]
    code = ("import sys; import app.ui.wizard; "
            "heavy = [m for m in ('cryptography', 'httpx', 'joserfc', 'keyring', 'app.core.onboarding', "
            "'app.core.session') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _in_layout(layout, widget) -> bool:
    if layout is None:
        return False
    for i in range(layout.count()):
        item = layout.itemAt(i)
        if item.widget() is widget or _in_layout(item.layout(), widget):
            return True
    return False


def test_every_visible_widget_on_every_page_is_placed_by_a_layout(wizard):
    """A widget left out of its layout paints at (0, 0) over the page (once seen on the Done page)."""
    from PySide6.QtWidgets import QWidget

    for name in STEP_NAMES:
        walk_to(wizard, name)
        page = wizard.currentPage()
        stray = []
        for w in page.findChildren(QWidget):
            parent = w.parentWidget()
            if not w.isVisibleTo(page) or parent is None or w.isWindow():
                continue
            if parent.layout() is None:  # Qt's own composite widgets place their parts themselves
                continue
            if not _in_layout(parent.layout(), w):
                stray.append(f"{type(w).__name__} in {type(parent).__name__}")
        assert stray == [], f"{name}: {stray}"
