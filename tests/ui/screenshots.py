"""Render every wizard page offscreen to PNG (not a test): python -m tests.ui.screenshots OUTDIR

Uses the fake backend (tests/ui/fakes.py) and the synchronous runner, so it needs no network and no
keyring, and can show the failure states (certificate problem, server refusal) on purpose.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def walk(wizard, shot) -> None:
    """Drive the whole journey with the fake backend, calling shot(name) on each page."""
    from PySide6.QtWidgets import QApplication

    from tests.ui.fakes import Problem

    def settle() -> None:
        for _ in range(5):
            QApplication.processEvents()

    ctx = wizard.ctx
    settle()
    shot("00-start")
    wizard.next(); settle(); shot("01-community")
    wizard.next(); settle()
    page = wizard.currentPage()
    for key, value in {"name": "riverside", "org_name": "Riverside Family Practice",
                       "client_name": "Riverside Records Sync", "client_uri": "https://riverside.example.org/udap",
                       "contact": "it@riverside.example.org"}.items():
        page.fields[key].setText(value)
    shot("02-organization")
    wizard.next(); settle(); shot("03-key")
    wizard.next(); settle(); shot("04-csr")
    wizard.currentPage().openssl.setChecked(True); settle(); shot("04b-csr-openssl")
    wizard.currentPage().openssl.setChecked(False)
    wizard.currentPage().issue.click(); settle()
    wizard.next(); settle(); shot("05-certificate")
    onboarding = ctx.onboarding
    onboarding.cert_problems = [Problem("client_uri_missing", "error",
                                        {"expected": "https://riverside.example.org/udap",
                                         "closest": "https://riverside.example.org/udap/", "position": 34})]
    wizard.currentPage().load(); settle(); shot("05b-certificate-problem")
    onboarding.cert_problems = [Problem("expires_soon", "warning", {"days_left": 12})]
    wizard.currentPage().load(); settle(); shot("05c-certificate-warning")
    wizard.next(); settle(); shot("06-details")
    wizard.currentPage().user.setChecked(True); wizard.currentPage().rebuild(); settle()
    shot("06b-details-user-login")
    wizard.currentPage().b2b.setChecked(True); wizard.currentPage().rebuild(); settle()
    wizard.next(); settle(); shot("07-connect")
    onboarding.reject = {ctx.server}
    wizard.currentPage().register.click(); settle(); shot("07b-connect-rejected")
    onboarding.reject = set()
    wizard.currentPage().register.click(); settle(); shot("07c-connect-registered")
    wizard.next(); settle(); shot("08-access")
    wizard.currentPage().run.click(); settle(); shot("08b-access-tested")
    wizard.next(); settle(); shot("09-done")
    wizard.restart(); settle(); shot("10-start-with-profile")


def main(argv: list[str]) -> int:
    from PySide6.QtWidgets import QApplication

    from app.ui.context import WizardContext
    from app.ui.tasks import SyncRunner
    from app.ui.wizard import OnboardingWizard
    from tests.ui.fakes import fake_backend

    out = Path(argv[0] if argv else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("UDAP_ONBOARD_HOME", tempfile.mkdtemp(prefix="udap-shots-"))
    app = QApplication.instance() or QApplication([])
    app.setStyle("Fusion")
    ctx = WizardContext(runner=SyncRunner())
    wizard = OnboardingWizard(ctx)
    wizard.resize(980, 700)
    wizard.show()
    wizard.set_backend(fake_backend(Path(os.environ["UDAP_ONBOARD_HOME"])))

    def shot(name: str) -> None:
        wizard.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png")

    walk(wizard, shot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
