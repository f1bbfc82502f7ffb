"""The indexed set of known secrets: it must find exactly what a search for each value finds."""

from __future__ import annotations

import random
import string

import pytest

from app.core.evidence import AuditTrail
from app.core.redact import REDACTED, redact_text
from app.core.secretscan import INDEX_FROM, KnownSecrets

ALPHABET = string.ascii_letters + string.digits + "-_.:=\"' {}[]"


def _value(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(8, 48)))


@pytest.mark.parametrize("size", [5, INDEX_FROM + 1, 1500])
def test_present_in_finds_exactly_the_members_in_the_text(size):
    rng = random.Random(size)
    values = [_value(rng) for _ in range(size)]
    known = KnownSecrets(values)
    for _ in range(300):
        parts = [_value(rng) for _ in range(rng.randint(0, 30))]
        for _ in range(rng.randint(0, 4)):  # plant some members at random offsets
            parts.insert(rng.randint(0, len(parts)), rng.choice(values))
        text = "".join(parts)[: rng.choice([20, 300, 5000])]
        expected = sorted((v for v in set(values) if v in text), key=len, reverse=True)
        found = known.present_in(text)
        assert sorted(found) == sorted(expected) and [len(v) for v in found] == [len(v) for v in expected]


def test_growing_and_shrinking_keep_the_answer_right():
    known = KnownSecrets()
    known |= {"first-secret-value"}
    known.update(["second-secret-value"])
    known.add("x" * 8)
    text = "a first-secret-value and a second-secret-value and xxxxxxxx"
    assert set(known.present_in(text)) == {"first-secret-value", "second-secret-value", "x" * 8}
    known.discard("second-secret-value")
    assert "second-secret-value" not in known.present_in(text)
    assert isinstance(known.copy(), set) and not isinstance(known.copy(), KnownSecrets)


def test_a_long_session_still_scrubs_a_secret_learnt_among_thousands():
    trail = AuditTrail()
    rng = random.Random(7)
    for _ in range(3000):
        trail.learn_secret(_value(rng))
    trail.learn_secret("the-access-token-value-123456")
    body = '{"note": "echo the-access-token-value-123456 back", "pad": "%s"}' % ("z" * 4000)
    entry = trail.record("POST", "https://server.example/x?q=the-access-token-value-123456",
                         {"X-Echo": "the-access-token-value-123456"}, None, 200,
                         {"Content-Type": "application/json"}, body.encode())
    dumped = repr(entry.to_dict())
    assert "the-access-token-value-123456" not in dumped and dumped.count(REDACTED) >= 3


def test_redact_text_same_answer_with_the_index_and_without():
    rng = random.Random(11)
    values = [_value(rng) for _ in range(400)]
    indexed, plain = KnownSecrets(values), set(values)
    for _ in range(200):
        text = "".join(rng.choice(values) if rng.random() < 0.1 else _value(rng) for _ in range(rng.randint(1, 40)))
        assert redact_text(text, indexed) == redact_text(text, set(plain))
