"""JSON we did not write ourselves (server answers, token parts, files on disk), parsed with a nesting limit.

``json.loads`` raises RecursionError, not ValueError, past about a thousand levels, and a
document a few hundred levels deep parses but then overflows the recursive code that walks it
(redaction, ``dataclasses.asdict``, ``json.dumps``). No UDAP or FHIR document nests anywhere near
``MAX_DEPTH``; deeper input is refused as not-JSON, so every caller's ``except ValueError`` holds.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads``; ValueError (never RecursionError) for a document nested deeper than MAX_DEPTH."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Walk without recursion; ValueError at the first container deeper than ``limit``."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise ValueError("JSON nested too deeply")
        stack.extend((child, depth + 1) for child in children)
