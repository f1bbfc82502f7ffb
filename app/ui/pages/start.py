"""Start: resume a saved profile (with what is done and what is left) or begin a new one."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QButtonGroup, QLabel, QListWidget, QListWidgetItem, QRadioButton

from app.ui.steps import step_name_of
from app.ui.pages.base import StepPage
from app.ui.pages.titles import start_heading, step_title


def profile_overviews(session: Any, workflow: Any, now: Any) -> list[dict]:
    """Runs in the task runner: each saved profile with its workflow state (no network)."""
    out = []
    for name in session.profiles.list():
        try:
            profile = session.profiles.load(name)
        except Exception as exc:  # noqa: BLE001 - a damaged profile is listed, not fatal
            out.append({"name": name, "error": exc})
            continue
        state = workflow.OnboardingState.from_profile(profile, now)
        leaf = profile.leaf_certificate() if hasattr(profile, "leaf_certificate") else None
        days = (leaf.not_valid_after_utc - now).days if leaf is not None else None
        out.append({"name": name, "profile": profile, "state": state, "days_left": days,
                    "servers": len(getattr(profile, "registrations", {}) or {}),
                    "left": [step_name_of(s) for s in workflow.remaining(state)]})
    return out


class StartPage(StepPage):
    STEP = ""

    def build(self) -> None:
        title, subtitle = start_heading()  # shared with the first window's skeleton (app/ui/startup.py)
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.text(self.tr("You will create a private key, get a certificate from your trust community, and "
                          "register with a server. Nothing is sent anywhere until you press Register. "
                          "New here? Start a new profile: it uses the practice community on this computer, "
                          "so you can try everything safely, even offline."))
        self.new_radio = QRadioButton(self.tr("&Start a new profile"), self)
        self.resume_radio = QRadioButton(self.tr("&Continue a saved profile:"), self)
        group = QButtonGroup(self)
        group.addButton(self.new_radio)
        group.addButton(self.resume_radio)
        self.new_radio.setChecked(True)
        self.body.addWidget(self.new_radio)
        self.body.addWidget(self.resume_radio)
        self.list = QListWidget(self)
        self.list.setAccessibleName(self.tr("Saved profiles"))
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.body.addWidget(self.list, 1)
        self.loading = QLabel(self.tr("Loading saved profiles…"), self)
        self.body.addWidget(self.loading)
        self.body.addStretch(0)
        self.resume_radio.toggled.connect(self._choice_changed)
        self.list.currentRowChanged.connect(lambda _row: self.resume_radio.setChecked(True))
        # no itemActivated -> next(): the list ignores Enter, so the wizard's default button already goes Next
        self._overviews: list[dict] = []
        self.first_field = self.new_radio

    def load(self) -> None:
        self.loading.setText(self.tr("Loading saved profiles…"))
        self.call(profile_overviews, self.ctx.session, self.ctx.workflow, self.ctx.now(), on_done=self._show,
                  busy=self.tr("Loading saved profiles…"))

    def _show(self, overviews: list[dict]) -> None:
        self._overviews = overviews
        self.list.clear()
        for ov in overviews:
            item = QListWidgetItem(self._describe(ov))
            item.setData(Qt.ItemDataRole.UserRole, ov["name"])
            self.list.addItem(item)
        self.loading.setText("" if overviews else self.tr("No saved profiles yet."))
        self.loading.setVisible(not overviews)
        self.resume_radio.setVisible(bool(overviews))
        self.list.setVisible(bool(overviews))
        if overviews:
            self.list.setCurrentRow(0)
            self.resume_radio.setChecked(True)
            self.first_field = self.list
        self.completeChanged.emit()

    def _describe(self, ov: dict) -> str:
        if "error" in ov:
            return self.tr("{name} — cannot be opened: {why}").format(
                name=ov["name"], why=self.ctx.explain(ov["error"]).summary)
        p = ov["profile"]
        parts = [f"{ov['name']} — {p.org_name or self.tr('(no organization yet)')}"]
        days = ov["days_left"]
        if days is None:
            parts.append(self.tr("no certificate yet"))
        elif days < 0:
            parts.append(self.tr("certificate EXPIRED {n} days ago").format(n=-days))
        else:
            parts.append(self.tr("certificate valid {n} more days").format(n=days))
        parts.append(self.tr("registered with {n} server(s)").format(n=ov["servers"]))
        left = ov["left"]
        parts.append(self.tr("next: {step}").format(step=step_title(left[0])) if left else self.tr("all steps done"))
        return " · ".join(parts)

    def _choice_changed(self) -> None:
        self.completeChanged.emit()

    def ready(self) -> bool:
        return self.new_radio.isChecked() or self.list.currentItem() is not None

    def selected_overview(self) -> dict | None:
        item = self.list.currentItem()
        if not self.resume_radio.isChecked() or item is None:
            return None
        name = item.data(Qt.ItemDataRole.UserRole)
        return next((ov for ov in self._overviews if ov["name"] == name), None)

    def commit(self) -> Any:
        ov = self.selected_overview()
        if ov is None:
            self.ctx.set_profile(None)
            self.ctx.resume_target = "COMMUNITY"
            return None
        if "error" in ov:
            self.show_error(ov["error"])
            return ("error", ov["error"])
        self.ctx.set_profile(ov["profile"])
        self.ctx.resume_target = step_name_of(self.ctx.workflow.first_incomplete_step(ov["state"]))
        return None

    def validatePage(self) -> bool:  # noqa: N802 - choosing is instant: no task, no save
        if self.ctx.jump_target and self.ctx.profile is not None:
            self.ctx.resume_target, self.ctx.jump_target = self.ctx.jump_target, None
            return True
        if self.busy or self.ctx.backend is None:
            return False
        return self.commit() is None
