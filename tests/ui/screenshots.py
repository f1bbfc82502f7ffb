"""Render the wizard's pages offscreen to PNG for the README (not a test).

    python -m tests.ui.screenshots docs/screenshots

Everything shown is real: a throwaway data folder, the real core and the practice community on
127.0.0.1 (no network). Three journeys: the happy path; a server rehearsing "RSA keys only"
refusing an EC key; and a training certificate from the gallery (revoked) imported as PKCS#12.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIZE = (980, 700)
ORG = {"org_name": "Riverside Family Practice", "client_name": "Riverside Records Sync",
       "contact": "it@riverside.example.org"}


def settle() -> None:
    from PySide6.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()


def new_wizard(session):
    from app.core import onboarding, workflow
    from app.ui.context import Backend, WizardContext
    from app.ui.tasks import SyncRunner
    from app.ui.wizard import OnboardingWizard

    wizard = OnboardingWizard(WizardContext(runner=SyncRunner()))
    wizard.resize(*SIZE)
    wizard.show()
    wizard.set_backend(Backend(session, onboarding, workflow))
    settle()
    return wizard


def step(wizard, expected: str) -> None:
    from app.ui.steps import page_id

    wizard.next()
    settle()
    page = wizard.currentPage()
    if wizard.currentId() != page_id(expected):
        raise SystemExit(f"stuck on {page.objectName()}: {page.banner.plain_text()}")


def organization(wizard, name: str, uri: str) -> None:
    page = wizard.currentPage()
    page.fields["name"].setText(name)
    for key, value in ORG.items():
        page.fields[key].setText(value)
    page.fields["client_uri"].setText(uri)
    settle()


def choose_mode(wizard, modes: tuple[str, ...]) -> None:
    page = wizard.currentPage()
    page.mode.setCurrentIndex(next(i for i in range(page.mode.count()) if tuple(page.mode.itemData(i)) == modes))


def happy(session, shot) -> None:
    w = new_wizard(session)
    shot(w, "00-start")
    step(w, "COMMUNITY")
    shot(w, "01-community")
    step(w, "ORGANIZATION")
    organization(w, "riverside", "https://riverside.example.org/udap")
    shot(w, "02-organization")
    step(w, "KEY")
    shot(w, "03-key")
    step(w, "CSR")
    shot(w, "04-certificate-request")
    csr = w.currentPage()
    csr.openssl.setChecked(True)
    settle()
    shot(w, "04b-openssl-commands")
    csr.openssl.setChecked(False)
    csr.issue.click()
    settle()
    step(w, "CERTIFICATE")
    shot(w, "05-certificate-checked")
    step(w, "REGISTRATION_DETAILS")
    shot(w, "06-registration-details")
    step(w, "CONNECT")
    connect = w.currentPage()
    connect.register.click()
    settle()
    shot(w, "07-registered")
    step(w, "TEST_ACCESS")
    w.currentPage().run.click()
    settle()
    shot(w, "08-test-access")
    step(w, "DONE")
    shot(w, "09-done")
    w.restart()
    settle()
    shot(w, "10-start-with-profile")
    w.close()


def refused(session, shot) -> None:
    """A presenter's rehearsal: the practice server accepts RSA keys only; our key is EC P-256."""
    w = new_wizard(session)
    w.currentPage().new_radio.setChecked(True)  # profiles exist now: the start page offers them first
    step(w, "COMMUNITY")
    choose_mode(w, ("rsa-only",))
    shot(w, "11-community-rehearsal-mode")
    step(w, "ORGANIZATION")
    organization(w, "eastside", "https://eastside.example.org/udap")
    step(w, "KEY")
    w.currentPage().radios["ec-p256"].setChecked(True)
    step(w, "CSR")
    w.currentPage().issue.click()
    settle()
    step(w, "CERTIFICATE")
    step(w, "REGISTRATION_DETAILS")
    step(w, "CONNECT")
    w.currentPage().register.click()
    settle()
    shot(w, "12-registration-refused")
    w.close()
    session.practice.start(modes=())


def revoked(session, home: Path, shot) -> None:
    """A trainee imports the gallery's revoked certificate (PKCS#12 with key) and sees why it cannot be used."""
    gallery = Path(tempfile.mkdtemp(prefix="gallery-"))
    items = session.practice.ca().write_gallery(gallery, "https://northside.example.org/udap",
                                                now=session.now())
    item = next(i for i in items if i.name == "revoked")
    w = new_wizard(session)
    w.currentPage().new_radio.setChecked(True)
    step(w, "COMMUNITY")
    step(w, "ORGANIZATION")
    organization(w, "northside", "https://northside.example.org/udap")
    step(w, "KEY")
    key = w.currentPage()
    key.radios["pkcs12"].setChecked(True)
    key.p12_file.load_files([str(item.file)])
    key.p12_password.edit.setText(item.password)
    settle()
    step(w, "CERTIFICATE")
    shot(w, "13-certificate-revoked")
    w.close()


def add_community(session, shot) -> None:
    """The form for a community that is not listed, filled with the practice CA's root as the anchor."""
    from app.ui.pages.community import NEW_KEY

    w = new_wizard(session)
    w.currentPage().new_radio.setChecked(True)
    step(w, "COMMUNITY")
    page = w.currentPage()
    page.list.setCurrentRow(next(i for i in range(page.list.count())
                                 if page.list.item(i).data(256) == NEW_KEY))
    form = page.new_form
    form.name.setText("Regional health network")
    form.uri.setText("urn:oid:2.16.840.1.113883.3.7204.1.5")
    form.anchor.setPlainText(session.practice.describe()["anchor_pem"])
    form.published.setText(form.fingerprints[0].lower())
    form.servers.setPlainText("https://fhir.region.example/r4")
    settle()
    shot(w, "14-add-community")
    w.close()


def main(argv: list[str]) -> int:
    from PySide6.QtWidgets import QApplication

    from app.core.secrets import MemorySecretStore
    from app.core.session import Session

    out = Path(argv[0] if argv else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="udap-shots-"))
    os.environ["UDAP_ONBOARD_HOME"] = str(home)
    app = QApplication.instance() or QApplication([])
    app.setStyle("Fusion")
    session = Session(home, secrets=MemorySecretStore())

    def shot(wizard, name: str) -> None:
        path = out / f"{name}.png"
        wizard.grab().save(str(path), "PNG", 0)  # 0 = smallest file; screenshots are committed
        print(path, f"{path.stat().st_size // 1024} KiB")

    try:
        happy(session, shot)
        refused(session, shot)
        revoked(session, home, shot)
        add_community(session, shot)
    finally:
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
