"""JSON we did not write ourselves (server answers, token parts, files on disk), parsed with a nesting limit.

``json.loads`` raises RecursionError, not ValueError, past about a thousand levels, and a
document a few hundred levels deep parses but then overflows the recursive code that walks it
(redaction, ``dataclasses.asdict``, ``json.dumps``). No UDAP or FHIR document nests anywhere near
``MAX_DEPTH``; deeper input is refused as not-JSON, so every caller's ``except ValueError`` holds.
"""

from __future__ import annotations

import copy
import json
from typing import Any

MAX_DEPTH = 100


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads``; ValueError (never RecursionError) for a document nested deeper than MAX_DEPTH."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    # Every object or array opens with its own "{" or "[": with no more of them than the limit (in
    # strings too, so this over-counts), no path can be deeper, and the walk is skipped.
    opens = (b"{", b"[") if isinstance(data, (bytes, bytearray)) else ("{", "[")
    if data.count(opens[0]) + data.count(opens[1]) > MAX_DEPTH:
        check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Walk without recursion; ValueError at the first container deeper than ``limit``."""
    if not isinstance(value, (dict, list)):
        return
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > limit:
            raise ValueError("JSON nested too deeply")
        for child in (item.values() if isinstance(item, dict) else item):
            if isinstance(child, (dict, list)):  # only containers go on the stack, not every scalar
                push((child, depth + 1))


def copy_json(value: Any) -> Any:
    """Deep copy of a JSON-like value (dicts, lists, scalars; anything else via copy.deepcopy).

    For cached parses handed out to callers who may change them; copy.deepcopy is ~5x slower."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return copy.deepcopy(value)
