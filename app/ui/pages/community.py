"""Community: which trust community (group of organizations that trust one another) to join."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem

from app.ui.context import pick
from app.ui.pages.base import StepPage

PRACTICE_KEY = "__practice__"
NEW_KEY = "__new__"


PRACTICE_NAME = "practice"  # app.sandbox.practice.NAME (not imported: the sandbox is heavy)


def is_practice(community: Any) -> bool:
    """The practice community runs on this computer (local CA + test server)."""
    name = community if isinstance(community, str) else pick(community, "name", default="")
    return str(name or "").lower() == PRACTICE_NAME


def ensure_practice(session: Any, community_name: str | None) -> None:
    """Runs in a task: start the local practice server when the profile uses it and it is not running."""
    if is_practice(community_name) and not session.practice.running:
        session.practice.start()


class CommunityPage(StepPage):
    STEP = "COMMUNITY"

    def build(self) -> None:
        self.setTitle(self.tr("Trust community"))
        self.setSubTitle(self.tr("Choose the trust community: the group of organizations whose servers will "
                                 "accept your certificate."))
        label = QLabel(self.tr("&Community:"), self)
        self.list = QListWidget(self)
        self.list.setAccessibleName(self.tr("Community"))
        self.list.setWordWrap(True)
        self.list.setSpacing(4)  # two-line entries must not run into each other
        label.setBuddy(self.list)
        self.body.addWidget(label)
        self.body.addWidget(self.list, 1)
        self.info = self.text("")
        behaviour = QHBoxLayout()
        self.mode_label = QLabel(self.tr("Practice server beha&ves like:"), self)
        self.mode = QComboBox(self)
        for text, modes in self.practice_modes():
            self.mode.addItem(text, modes)
        self.mode.setAccessibleName(self.tr("Practice server behaviour"))
        self.mode_label.setBuddy(self.mode)
        behaviour.addWidget(self.mode_label)
        behaviour.addWidget(self.mode, 1)
        self.body.addLayout(behaviour)
        from app.ui.pages.new_community import NewCommunityForm

        self.new_form = NewCommunityForm(self.ctx, self)
        self.new_form.setVisible(False)
        self.new_form.changed.connect(self.completeChanged)
        self.body.addWidget(self.new_form)
        self.list.currentRowChanged.connect(self._selected)
        self.first_field = self.list

    def practice_modes(self) -> list[tuple[str, tuple[str, ...]]]:
        """Rehearse what real servers do (app/sandbox/rules.py MODES); the first one follows the rules."""
        return [
            (self.tr("a server that follows the rules (recommended)"), ()),
            (self.tr("a server that accepts RSA keys only"), ("rsa-only",)),
            (self.tr("a server that grants fewer permissions than asked"), ("narrow-scopes",)),
            (self.tr("a server that answers every refusal with a bare error 500"), ("bare-500",)),
            (self.tr("a server with a strict clock"), ("strict-clock",)),
            (self.tr("a server that finds intermediate certificates only through AIA"), ("aia-only",)),
            (self.tr("a server that echoes every claim back"), ("echo-all",)),
        ]

    def chosen_modes(self) -> tuple[str, ...]:
        return tuple(self.mode.currentData() or ())

    def load(self) -> None:
        running = getattr(self.ctx.session.practice, "server", None)
        current = tuple(sorted(getattr(running, "modes", ()) or ())) if self.ctx.session.practice.running else ()
        index = next((i for i in range(self.mode.count()) if tuple(self.mode.itemData(i) or ()) == current), 0)
        self.mode.setCurrentIndex(index)
        self.list.clear()
        practice = QListWidgetItem(self.tr("Practice community (on this computer) — recommended for a first try.\n"
                                           "A pretend certificate authority and server run inside udap-onboard; "
                                           "nothing leaves your computer."))
        practice.setData(Qt.ItemDataRole.UserRole, PRACTICE_KEY)
        self.list.addItem(practice)
        for c in self.ctx.session.communities.list():
            if is_practice(c):
                continue
            servers = len(pick(c, "servers", default=[]) or [])
            item = QListWidgetItem(self.tr("{name}\n{uri} · {n} server(s) known").format(name=c.name, uri=c.uri,
                                                                                        n=servers))
            item.setData(Qt.ItemDataRole.UserRole, c.name)
            self.list.addItem(item)
        new = QListWidgetItem(self.tr("Add a community that is not listed…\n"
                                      "You need its community URI and trust anchor certificate from its "
                                      "onboarding guide."))
        new.setData(Qt.ItemDataRole.UserRole, NEW_KEY)
        self.list.addItem(new)
        current = self.ctx.community_name()
        row = 0
        for i in range(self.list.count()):
            data = self.list.item(i).data(Qt.ItemDataRole.UserRole)
            if current and (data == current or (data == PRACTICE_KEY and is_practice(current))):
                row = i
        self.list.setCurrentRow(row)

    def chosen(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _selected(self, _row: int) -> None:
        key = self.chosen()
        self.new_form.setVisible(key == NEW_KEY)
        self.mode.setVisible(key == PRACTICE_KEY)
        self.mode_label.setVisible(key == PRACTICE_KEY)
        self.list.setMaximumHeight(160 if key == NEW_KEY else 16_777_215)
        if key == NEW_KEY:
            self.info.setText(self.tr("Fill in what your community's onboarding guide gives you. Nothing is "
                                      "sent anywhere; the community is saved on this computer."))
        elif key == PRACTICE_KEY:
            self.info.setText(self.tr("Use this to learn the steps. Its certificates are accepted only by the "
                                      "practice server; for real data, choose your community's entry."))
        elif key:
            c = self.ctx.session.communities.get(key)
            fps = c.anchor_fingerprints() if hasattr(c, "anchor_fingerprints") else []
            self.info.setText(self.tr("Trust anchor fingerprint (SHA-256), compare it with the value your "
                                      "community published: {fp}").format(fp=fps[0] if fps else self.tr("none")))
        self.completeChanged.emit()

    def ready(self) -> bool:
        key = self.chosen()
        return key is not None and (key != NEW_KEY or self.new_form.ready())

    def commit(self) -> Any:
        key = self.chosen()
        info = self.ctx.practice_info
        practice = self.ctx.session.practice
        modes = self.chosen_modes()
        same = frozenset(getattr(getattr(practice, "server", None), "modes", ()) or ()) == frozenset(modes)
        if key == PRACTICE_KEY and info and practice.running and same:
            self._set_community(PRACTICE_NAME)
            return None
        if key == PRACTICE_KEY:
            return (practice.start, (), {"modes": modes}, self._practice_started,
                    self.tr("Starting the practice community…"))
        if key == NEW_KEY:
            fn, args, kwargs = self.new_form.add_call()
            return fn, args, kwargs, self._added, self.tr("Checking and saving the community…")
        self._set_community(key)
        return None

    def _added(self, community: Any) -> None:
        self._set_community(community.name)

    def _practice_started(self, describe: dict) -> None:
        self.ctx.practice_info = describe
        self._set_community(PRACTICE_NAME)  # the catalog name; describe["name"] is the display label

    def _set_community(self, name: str) -> None:
        self.ctx.community = name
        if self.ctx.profile is not None:
            self.ctx.profile.community = name
