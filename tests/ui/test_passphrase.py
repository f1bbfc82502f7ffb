"""No secure keyring: the passphrase dialog, opened from a worker thread through GuiPrompt."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.ui.passphrase import PassphraseDialog, ask_passphrase_dialog

GOOD = "correct horse battery staple"


def ok_button(box):
    return box.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_a_new_passphrase_is_asked_twice_and_must_be_long(qtbot):
    box = PassphraseDialog(create=True)
    qtbot.addWidget(box)
    assert box.second.isVisibleTo(box) and not ok_button(box).isEnabled()
    box.first.setText("short")
    assert "12 characters" in box.problem.text() and not ok_button(box).isEnabled()
    box.first.setText(GOOD)
    box.second.setText(GOOD + "!")
    assert "different" in box.problem.text() and not ok_button(box).isEnabled()
    box.second.setText(GOOD)
    assert box.problem.text() == "" and ok_button(box).isEnabled()


def test_unlocking_asks_once(qtbot):
    box = PassphraseDialog(create=False)
    qtbot.addWidget(box)
    assert not box.second.isVisibleTo(box)
    box.first.setText("x")  # no length rule when opening: the core decides whether it is right
    assert ok_button(box).isEnabled()


def answer_next_dialog(text: str | None) -> None:
    """Fill and press OK (or Cancel when text is None) on the dialog that is about to open."""

    def act() -> None:
        box = next((w for w in QApplication.topLevelWidgets() if isinstance(w, PassphraseDialog) and w.isVisible()),
                   None)
        if box is None:
            QTimer.singleShot(10, act)
            return
        if text is None:
            box.reject()
            return
        box.first.setText(text)
        box.second.setText(text)
        box.accept()

    QTimer.singleShot(10, act)


def test_worker_thread_waits_for_the_dialog_on_the_gui_thread(qtbot):
    ask = ask_passphrase_dialog(None)
    results: list = []

    def worker() -> None:
        try:
            results.append((threading.current_thread() is not threading.main_thread(), ask("key-1", True)))
        except BaseException as exc:  # noqa: BLE001
            results.append(("error", type(exc).__name__))

    answer_next_dialog(GOOD)
    t = threading.Thread(target=worker)
    t.start()
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    t.join(5)
    assert results == [(True, GOOD)]
    answer_next_dialog(None)
    t = threading.Thread(target=worker)
    t.start()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10_000)
    t.join(5)
    assert results[1] == ("error", "KeyboardInterrupt")  # Cancel stops the step; nothing is guessed


def test_key_is_generated_and_reopened_with_the_typed_passphrase(qtbot, home):
    """The real store without a keyring: PKCS#12 protected by the stretched passphrase, asked on the GUI thread."""
    from app.core import onboarding
    from app.core.secrets import UserPassphraseStore
    from app.core.session import Session
    from app.ui.tasks import TaskRunner

    session = Session(home, secrets=UserPassphraseStore(ask_passphrase_dialog(None)))
    profile, _ = onboarding.create_profile(session, "p", org_name="Org", client_name="App",
                                           client_uri="https://apps.example.org/udap", contact="it@example.org")
    runner, done = TaskRunner(), []
    answer_next_dialog(GOOD)
    runner.run(onboarding.generate_key, session, profile, "ec-p256", on_done=done.append,
               on_error=lambda e: done.append(e))
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    assert not isinstance(done[0], BaseException), done
    fresh = Session(home, secrets=UserPassphraseStore(lambda name, create: GOOD))
    assert onboarding.load_key(fresh, fresh.profiles.load("p")) is not None
    wrong = Session(home, secrets=UserPassphraseStore(lambda name, create: GOOD + "x"))
    with pytest.raises(Exception) as e:
        onboarding.load_key(wrong, wrong.profiles.load("p"))
    assert getattr(e.value, "code", "") == "wrong_passphrase"
    for s in (session, fresh, wrong):
        s.close()
