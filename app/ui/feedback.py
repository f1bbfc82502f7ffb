"""describe(error) -> what happened, what to do next, details: the one message table.

Plain Python (no Qt import) so that the CLI and the wizard share every sentence. Keys are
"domain.code"; a code without an entry falls back to its domain's general message, so a new
code is never shown as a traceback. Templates use ``{field}`` from the error's fields; a
missing field leaves the placeholder out rather than failing.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from app.ui.feedback_table import DOMAIN_DEFAULTS, HINTS, MESSAGES


@dataclass(frozen=True)
class Explanation:
    summary: str
    next_step: str
    details: str

    def one_line(self) -> str:
        return f"{self.summary} {self.next_step}".strip()


class _Lenient(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _fill(template: str, fields: dict[str, Any]) -> str:
    values = _Lenient({k: _short(v) for k, v in fields.items()})
    return string.Formatter().vformat(template, (), values)


def _short(value: Any, limit: int = 300) -> str:
    if isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(error: BaseException) -> Explanation:
    """Explain any exception; unknown ones say so and point at the log instead of crashing."""
    from app.core.errors import UdapOnboardError

    if isinstance(error, UdapOnboardError):
        key = f"{error.domain}.{error.code}"
        summary, next_step = MESSAGES.get(key) or DOMAIN_DEFAULTS.get(error.domain, DOMAIN_DEFAULTS["general"])
        details = f"[{key}] " + ", ".join(f"{k}: {_short(v)}" for k, v in error.fields.items())
        text = _fill(summary, error.fields)
        said = error.fields.get("error_description")
        if isinstance(said, str) and said.strip() and "{error_description}" not in summary:
            text += f' The server said: "{_short(said.strip(), 200)}".'  # the most useful words a server sends
        step = _fill(next_step, error.fields)
        for hint in error.fields.get("hints") or []:  # what the local checks think is most likely wrong
            if isinstance(hint, str) and hint in HINTS:
                step += " " + _fill(HINTS[hint], error.fields)
        return Explanation(text, step, details.strip())
    if isinstance(error, KeyboardInterrupt):
        return Explanation("Stopped.", "", "")
    if isinstance(error, MemoryError):
        return Explanation("The computer ran out of memory.", "Close other programs and try again.", "")
    if isinstance(error, OSError):
        where = getattr(error, "filename", None) or ""
        return Explanation(f"A file or network operation failed: {error.strerror or error}.",
                           "Check that the folder exists and that you may write there, then try again.",
                           f"{type(error).__name__}: {where}")
    return Explanation("Something unexpected went wrong inside udap-onboard.",
                       "Nothing was deleted. Try the step again; if it keeps failing, export the evidence "
                       "and report it with the details below.",
                       f"{type(error).__name__}")


def message_key(error: BaseException) -> str | None:
    from app.core.errors import UdapOnboardError

    return f"{error.domain}.{error.code}" if isinstance(error, UdapOnboardError) else None


def has_entry(domain: str, code: str) -> bool:
    return f"{domain}.{code}" in MESSAGES
