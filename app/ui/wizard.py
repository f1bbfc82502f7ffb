"""The wizard window: one page per workflow step, a side list of steps, routing by core.workflow.

run_gui first shows a skeleton of this window (app/ui/startup.py) that needs no more of PySide6
than a bare QWizard, and builds the real pages into it after the first paint. So the top of this
module imports only QWizard: ``Qt`` (~45 ms on first use), our pages and widgets (QStyle, ~16 ms)
and context's dataclasses (~20 ms) are imported by ``build``; the core after that.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QApplication, QWizard

from app.ui.pages.titles import start_heading, step_title
from app.ui.startup import SkeletonPage, after_first_paint, brand, skeleton_steps, watch_first_window
from app.ui.steps import START_ID, STEP_NAMES, page_id, step_name_of

if TYPE_CHECKING:
    from app.ui.context import Backend, WizardContext

STEP_LIST_WIDTH = 230  # fits "– Certificate request (not needed)" in bold at the default font


def page_classes() -> tuple:
    """The step pages, imported on first use: run_gui builds them only after the first paint."""
    from app.ui.pages.access import AccessPage
    from app.ui.pages.certificate import CertificatePage
    from app.ui.pages.community import CommunityPage
    from app.ui.pages.connect import ConnectPage
    from app.ui.pages.csr import CsrPage
    from app.ui.pages.details import DetailsPage
    from app.ui.pages.done import DonePage
    from app.ui.pages.key import KeyPage
    from app.ui.pages.organization import OrganizationPage

    return (CommunityPage, OrganizationPage, KeyPage, CsrPage, CertificatePage, DetailsPage, ConnectPage,
            AccessPage, DonePage)


class OnboardingWizard(QWizard):
    """QWizard whose route comes from core.workflow; pages are bound to a shared WizardContext."""

    def __init__(self, ctx: WizardContext | None, parent=None, *, later_pages: bool = False) -> None:
        """``ctx=None`` (run_gui): only the skeleton, until ``build(ctx)`` after the first paint."""
        super().__init__(parent)
        self.ctx: WizardContext | None = None
        self.setWindowTitle(self.tr("udap-onboard — connect to a health data network"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setButtonText(QWizard.WizardButton.CancelButton, self.tr("Close"))
        self.resize(960, 680)
        if ctx is None:
            # Close is the one enabled button, so it has the focus: Enter must not close the window.
            self.button(QWizard.WizardButton.CancelButton).setAutoDefault(False)
            self.setPage(START_ID, SkeletonPage(*start_heading()))
            self.setSideWidget(skeleton_steps((step_title(name) for name in STEP_NAMES), STEP_LIST_WIDTH, self))
        else:
            self.build(ctx, later_pages=later_pages)

    def build(self, ctx: WizardContext, *, later_pages: bool = False) -> None:
        """The real start page and side list (and, unless ``later_pages``, the step pages), in place of
        the skeleton if it is showing."""
        if self.ctx is not None:
            return  # built already
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QListWidget, QListWidgetItem

        from app.ui.pages.start import StartPage

        skeleton = self.page(START_ID) if isinstance(self.page(START_ID), SkeletonPage) else None
        placeholder = self.sideWidget() if skeleton is not None else None
        self.ctx = ctx
        self.start = StartPage(ctx)
        if skeleton is not None:
            self.removePage(START_ID)  # also hides it; the wizard has no current page until restart()
            skeleton.deleteLater()
        self.setPage(START_ID, self.start)
        if not later_pages:
            self.add_pages()
        self.steps = QListWidget(self)
        self.steps.setObjectName("stepList")
        self.steps.setAccessibleName(self.tr("Steps"))
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.steps.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.steps.setFixedWidth(STEP_LIST_WIDTH)
        self.steps.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for name in STEP_NAMES:
            self.steps.addItem(QListWidgetItem(step_title(name)))
        self.setSideWidget(self.steps)
        if placeholder is not None:
            placeholder.deleteLater()  # setSideWidget hid it
        self._previous = START_ID
        self.currentIdChanged.connect(self._page_changed)
        ctx.listeners.append(self.update_steps)
        if skeleton is not None:
            self.button(QWizard.WizardButton.CancelButton).setAutoDefault(True)
            self.restart()  # shows and initializes the start page (focus on its first field)
        self.update_steps()

    def add_pages(self) -> None:
        """The step pages: importing and building them costs ~0.1 s, so run_gui adds them after the first paint."""
        if self.page(page_id("COMMUNITY")) is not None:
            return
        for cls in page_classes():
            self.setPage(page_id(cls.STEP), cls(self.ctx))

    # ----------------------------------------------------------------- backend

    def set_backend(self, backend: Backend) -> None:
        self.ctx.backend = backend
        page = self.currentPage()
        if page is not None:
            page.initializePage()
            page.completeChanged.emit()
        self.update_steps()

    def backend_failed(self, error: BaseException) -> None:
        self.start.banner.show_error(self.ctx.explain(error))

    # ----------------------------------------------------------------- routing

    def nextId(self) -> int:  # noqa: N802 - Qt override
        if self.ctx is None:  # the skeleton: a Next button (disabled), not Finish
            return page_id("COMMUNITY")
        current = self.currentId()
        if current == START_ID:
            return page_id(self.ctx.resume_target or "COMMUNITY")
        if current < 0:
            return START_ID
        name = STEP_NAMES[current - 1]
        if name == "DONE":
            return -1
        state = self.ctx.state()
        if state is None:  # before the profile exists the route is the plain order
            return current + 1
        nxt = page_id(step_name_of(self.ctx.workflow.next_step(self.ctx.step(name), state)))
        return nxt if nxt > current else current + 1

    def go_to_step(self, name: str) -> None:
        """Jump (e.g. Done -> details for more servers): back through history, or restart through Start."""
        target = page_id(name)
        if target in self.visitedIds():
            while self.currentId() != target and self.currentId() != START_ID:
                self.back()
            if self.currentId() == target:
                return
        self.ctx.jump_target = name
        self.restart()
        self.next()

    def _page_changed(self, new_id: int) -> None:
        if self._previous not in (new_id, -1):
            self.ctx.runner.invalidate(self.page(self._previous))
            page = self.page(new_id)
            if new_id < self._previous and self.ctx.backend is not None and hasattr(page, "on_revisit"):
                page.on_revisit()  # QWizard does not re-initialize a page reached by Back
        self._previous = new_id
        self.update_steps()

    # ----------------------------------------------------------------- side list

    def update_steps(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QFont

        current = self.currentId()
        state = self.ctx.state()
        first_open = None
        route = STEP_NAMES
        if state is not None:
            first_open = step_name_of(self.ctx.workflow.first_incomplete_step(state))
            route = [step_name_of(s) for s in self.ctx.workflow.route(state)] if hasattr(
                self.ctx.workflow, "route") else STEP_NAMES
        for i, name in enumerate(STEP_NAMES):
            item = self.steps.item(i)
            if state is None:  # no profile yet: what lies behind is done
                done = 0 < page_id(name) < current
            else:
                done = STEP_NAMES.index(name) < STEP_NAMES.index(first_open) and name in route
            here = page_id(name) == current
            skipped = name not in route
            mark = "▶" if here else ("✓" if done else ("–" if skipped else "  "))
            suffix = self.tr(" (you are here)") if here else (self.tr(" (not needed)") if skipped else "")
            item.setText(f"{mark} {step_title(name)}{suffix if skipped else ''}")
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{step_title(name)}"
                         f"{self.tr(', done') if done else ''}{suffix}")
            font = QFont(self.steps.font())
            font.setBold(here)
            item.setFont(font)


def _home_arg(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--home" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--home="):
            return arg.split("=", 1)[1]
    return None


def run_gui(argv: list[str]) -> int:
    """Show the skeleton window, build the start page into it once painted, then the rest and the core.

    Each stage waits for the previous one to be on screen (a zero-delay timer would run before the
    paint): the skeleton (about what a bare QWizard costs), the start page and side list (~0.1 s:
    Qt's enums, our widgets), then the step pages and the core (~0.5 s: cryptography, httpx, ...).
    """
    app = QApplication.instance() or QApplication([sys.argv[0], *[a for a in argv if a.startswith("-platform")]])
    app.setApplicationName("udap-onboard")
    brand(app, icon=False)
    wizard = OnboardingWizard(None)
    watch_first_window(app, wizard)  # only with $UDAP_ONBOARD_FIRST_WINDOW=1 (packaging/bench_start.py)
    wizard.show()

    def build() -> None:
        from app.ui.context import WizardContext
        from app.ui.tasks import TaskRunner

        brand(app)  # the window icon
        wizard.build(WizardContext(runner=TaskRunner()), later_pages=True)
        after_first_paint(wizard.start, load)

    def load() -> None:
        wizard.add_pages()  # before the backend: Next stays disabled until set_backend
        from app.ui.context import load_backend
        from app.ui.passphrase import ask_passphrase_dialog

        try:
            backend = load_backend(_home_arg(argv), ask_passphrase=ask_passphrase_dialog(wizard))
        except Exception as exc:  # noqa: BLE001 - shown on the start page with what to do
            wizard.backend_failed(exc)
            return
        wizard.set_backend(backend)

    after_first_paint(wizard, build)
    code = app.exec()
    ctx = wizard.ctx
    if ctx is not None:
        ctx.runner.wait(5000)
        if ctx.backend is not None and hasattr(ctx.session, "close"):
            ctx.session.close()
    return code
