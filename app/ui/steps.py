"""The wizard's page ids: the start page, then one page per workflow step, in the workflow's order.

Plain Python with no imports, so the first window (app/ui/wizard.py) can route without loading
app/ui/context.py, whose dataclasses cost ~20 ms at start-up.
"""

from __future__ import annotations

STEP_NAMES = ("COMMUNITY", "ORGANIZATION", "KEY", "CSR", "CERTIFICATE", "REGISTRATION_DETAILS", "CONNECT",
              "TEST_ACCESS", "DONE")
START_ID = 0


def page_id(step_name: str) -> int:
    return STEP_NAMES.index(step_name) + 1


def step_name_of(step) -> str:
    """Step enum member (or its name/value) -> upper-case name."""
    name = getattr(step, "name", None) or str(step)
    return name.upper()
