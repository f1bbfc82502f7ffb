"""The CLI's passphrase prompt when no secure keyring exists: a new key's passphrase is typed twice."""

from __future__ import annotations

import argparse
import io

import pytest

from app import cli
from app.core.errors import InputError
from app.core.secrets import UserPassphraseStore

GOOD = "correct horse battery staple"


def store(monkeypatch, answers: list[str]):
    monkeypatch.setattr(cli.sys, "stdin", type("Tty", (io.StringIO,), {"isatty": lambda self: True})())
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": answers.pop(0))
    args = argparse.Namespace(home=None, passphrase_stdin=False, allow_insecure_loopback=False)
    session = cli.open_session(args)
    return UserPassphraseStore(session._ask_passphrase)


def test_new_container_asks_twice(monkeypatch, capsys):
    answers = [GOOD, GOOD]
    assert store(monkeypatch, answers).container_passphrase("key-1", create=True)
    assert answers == [] and "no secure system keyring" in capsys.readouterr().err.lower()


def test_a_mistyped_second_passphrase_saves_nothing(monkeypatch):
    with pytest.raises(InputError) as e:
        store(monkeypatch, [GOOD, GOOD + "."]).container_passphrase("key-1", create=True)
    assert e.value.code == "passphrase_mismatch"


def test_opening_asks_once(monkeypatch):
    answers = [GOOD, "never asked"]
    store(monkeypatch, answers).container_passphrase("key-1", create=False)
    assert answers == ["never asked"]
