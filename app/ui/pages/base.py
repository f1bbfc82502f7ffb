"""The common shape of a step page: purpose sentence, banner, busy indicator, async commit.

A page reads the context, calls ONE onboarding function through the task runner and writes the
result back; this base class owns the plumbing so each page stays a few dozen lines of layout.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QTimer, Qt
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget,
                               QWizardPage)

from app.ui.context import WizardContext
from app.ui.steps import page_id
from app.ui.widgets import StatusBanner


class StepPage(QWizardPage):
    """Base for every page; subclasses set STEP and build their fields in ``build()``."""

    STEP = ""

    def __init__(self, ctx: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"page_{self.STEP.lower() or 'start'}")
        self._committed = False
        self._busy = False
        self._validating = False
        self.first_field: QWidget | None = None
        outer = QVBoxLayout(self)
        self.body = QVBoxLayout()
        outer.addLayout(self.body, 1)
        busy_row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.progress.setAccessibleName(self.tr("Working"))
        self.busy_label = QLabel(self)
        self.stop = QPushButton(self.tr("S&top"), self)
        self.stop.setToolTip(self.tr("Stop waiting; nothing from this step is saved."))
        self.stop.clicked.connect(self.stop_task)
        busy_row.addWidget(self.progress)
        busy_row.addWidget(self.busy_label, 1)
        busy_row.addWidget(self.stop)
        self.progress.setVisible(False)
        self.busy_label.setVisible(False)
        self.stop.setVisible(False)
        self._handle: Any = None
        outer.addLayout(busy_row)
        self.banner = StatusBanner(self)
        outer.addWidget(self.banner)
        self.build()

    # ------------------------------------------------------------------- for subclasses

    def build(self) -> None:
        """Create the page's widgets into ``self.body``."""

    def load(self) -> None:
        """Fill the widgets from ``self.ctx`` (called on every entry to the page)."""

    def on_revisit(self) -> None:
        """Called when Back returns to this page (QWizard does not initialize it again)."""

    def commit(self) -> Any:
        """Return (fn, args, kwargs, on_done) for the one call Next makes, or None if nothing to do."""
        return None

    def form(self) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.body.addLayout(form)
        return form

    def text(self, text: str, rich: bool = False) -> QLabel:
        label = QLabel(text, self)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.addWidget(label)
        return label

    # ------------------------------------------------------------------- QWizardPage

    def initializePage(self) -> None:  # noqa: N802
        self._committed = False
        self.banner.clear()
        self.set_busy(False)
        if self.ctx.backend is not None:
            self.load()
        if self.first_field is not None:
            QTimer.singleShot(0, self._focus_first)

    def _focus_first(self) -> None:
        if self.first_field is not None and self.isVisible():
            self.first_field.setFocus(Qt.FocusReason.OtherFocusReason)

    def cleanupPage(self) -> None:  # noqa: N802 - going Back: drop anything still running
        self.ctx.runner.invalidate(self)
        self.set_busy(False)

    def validatePage(self) -> bool:  # noqa: N802
        if self._busy:
            return False
        if self._committed:  # the task finished and called next(): pass once, then commit afresh next time
            self._committed = False
            return True
        work = self.commit() if self.ctx.backend is not None else None
        if work is None:
            self.ctx.save_profile(self.STEP or None)
            return True
        fn, args, kwargs, on_done, busy_text = work

        def finished(result: Any) -> None:
            on_done(result)
            self.ctx.save_profile(self.STEP or None)
            self._committed = True
            wizard = self.wizard()
            if not self._validating and wizard is not None and wizard.currentPage() is self:
                wizard.next()

        self._validating = True
        try:
            self.call(fn, *args, on_done=finished, busy=busy_text, **kwargs)
        finally:
            self._validating = False
        done, self._committed = self._committed, False  # the sync runner may have finished already
        return done

    def isComplete(self) -> bool:  # noqa: N802
        return not self._busy and self.ctx.backend is not None and self.ready()

    def ready(self) -> bool:
        return True

    # ------------------------------------------------------------------- running core calls

    def call(self, fn: Callable, *args: Any, on_done: Callable[[Any], None], busy: str = "",
             on_error: Callable[[BaseException], None] | None = None, **kwargs: Any) -> Any:
        self.banner.clear()
        self.set_busy(True, busy)

        def done(result: Any) -> None:
            self.set_busy(False)
            on_done(result)

        def failed(error: BaseException) -> None:
            self.set_busy(False)
            if on_error is not None:
                on_error(error)
            else:
                self.show_error(error)

        self._handle = self.ctx.runner.run(fn, *args, on_done=done, on_error=failed, owner=self, **kwargs)
        return self._handle

    def stop_task(self) -> None:
        """Cancel: the running call is told to stop and whatever it returns later is dropped."""
        if self._handle is not None:
            self._handle.cancel()
        self.ctx.runner.invalidate(self)
        self.set_busy(False)
        self.banner.show_status("info", self.tr("Stopped. Nothing from this step was saved; you can try again."))

    def show_error(self, error: BaseException) -> None:
        self.banner.show_error(self.ctx.explain(error))

    def set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.progress.setVisible(busy)
        self.busy_label.setVisible(busy)
        self.stop.setVisible(busy)
        self.busy_label.setText(text or self.tr("Working…"))
        if busy:
            self.busy_label.setAccessibleName(self.busy_label.text())  # status is announced
        self.completeChanged.emit()

    @property
    def busy(self) -> bool:
        return self._busy

    def step_id(self) -> int:
        return page_id(self.STEP)
