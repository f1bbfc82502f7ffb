"""The audit trail's set of known secret values, indexed so that finding them in a text does not
cost one substring search per secret.

The set grows by a few values per exchange (tokens, JWS signatures), and checking every recorded
field against each of them made a long session's audit slower and slower (measured: 1.5 ms of
redaction per journey with an empty set, 10 ms at 500 values, 37 ms at 2,000; with the index ~5 ms
from 500 on, and unchanged below ``INDEX_FROM``). Every value is at
least ``MIN_LENGTH`` characters, so any occurrence of one in a text fully contains the ``GRAM``
characters that start at some multiple of ``GRAM`` (the occurrence starts at most ``GRAM - 1``
before it); each value is indexed under its ``GRAM``-grams at offsets 0..GRAM-1, and a text is
probed only at multiples of ``GRAM``. Candidates are then confirmed with ``in``: never a miss.
"""

from __future__ import annotations

import re
from typing import Iterable

GRAM = 4
MIN_LENGTH = 2 * GRAM  # redact._MIN_KNOWN: shorter values are never learnt
INDEX_FROM = 100  # below this, redact.redact_text searches for each value inline (a call per field cost
                  # ~0.3 ms per journey)
_CHUNKS = re.compile(".{%d}" % GRAM, re.S)


class KnownSecrets(set):
    """A set of strings that can say which of its members occur in a text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        super().__init__()
        self.added: list[str] = []  # in the order learnt: ``added[n:]`` is what came after a moment
        self._grams: dict[str, set[str]] = {}
        self._short: set[str] = set()  # members too short to index (only if added directly)
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        if value in self:
            return
        super().add(value)
        self.added.append(value)
        if len(value) < MIN_LENGTH:
            self._short.add(value)
            return
        for offset in range(GRAM):
            self._grams.setdefault(value[offset:offset + GRAM], set()).add(value)

    @property
    def has_short(self) -> bool:
        """Whether a member is shorter than ``MIN_LENGTH`` (only ever added directly, not learnt)."""
        return bool(self._short)

    def present_in(self, text: str) -> list[str]:
        """The members found in ``text``, longest first (the order to replace them in)."""
        size = len(text)
        if len(self) * (40 + 0.22 * size) <= 3000 + 65 * size:  # ns, measured: searching each is cheaper
            for value in self:
                if value in text:
                    break
            else:
                return []
            found = [value for value in self if value in text]
        else:
            grams = self._grams
            hits = list(filter(grams.__contains__, _CHUNKS.findall(text)))  # the grams at multiples of GRAM
            candidates = self._short.union(*map(grams.__getitem__, hits))
            found = [value for value in candidates if value in text and value in self]
        found.sort(key=len, reverse=True)
        return found

    # Growing goes through ``add`` (which indexes). A value removed another way may stay in the
    # index, harmlessly: candidates are confirmed as members.
    def update(self, *others) -> None:
        for other in others:
            for value in other:
                self.add(value)

    def __ior__(self, other):
        self.update(other)
        return self

    def copy(self) -> set[str]:  # a plain set: a snapshot, not a second index
        return set(self)
