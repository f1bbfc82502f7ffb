"""The wizard shows its start page first and builds the step pages after the first paint.

Importing and building the nine step pages cost ~0.1 s of the ~0.6 s to the first window
(tests/bench/bench_gui.py); run_gui asks for them only once the window has painted.
"""

from __future__ import annotations

import sys

from app.ui.context import WizardContext
from app.ui.steps import START_ID, STEP_NAMES, page_id
from app.ui.tasks import SyncRunner


def test_later_pages_start_with_the_start_page_only_and_add_the_rest_once(qtbot):
    from app.ui.wizard import OnboardingWizard

    w = OnboardingWizard(WizardContext(runner=SyncRunner()), later_pages=True)
    qtbot.addWidget(w)
    assert w.pageIds() == [START_ID]
    w.add_pages()
    first = [w.page(page_id(name)) for name in STEP_NAMES]
    assert w.pageIds() == [START_ID] + [page_id(name) for name in STEP_NAMES] and all(first)
    w.add_pages()  # idempotent: the same page objects
    assert [w.page(page_id(name)) for name in STEP_NAMES] == first


def test_the_wizard_module_does_not_import_the_step_pages():
    import subprocess

    code = ("import sys, app.ui.wizard; "
            "print(sorted(m for m in sys.modules if m.startswith('app.ui.pages.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['app.ui.pages.titles']", out.stdout  # the start page too waits (test_first_window)
