"""Human names of the steps (side list, page titles, "next:" hints), in one place."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

_TITLES = {
    "COMMUNITY": "Trust community",
    "ORGANIZATION": "Your organization",
    "KEY": "Private key",
    "CSR": "Certificate request",
    "CERTIFICATE": "Certificate",
    "REGISTRATION_DETAILS": "Registration details",
    "CONNECT": "Register with a server",
    "TEST_ACCESS": "Test access",
    "DONE": "Finished",
}


def step_title(step_name: str) -> str:
    return QCoreApplication.translate("steps", _TITLES.get(step_name, step_name.title()))


def start_heading() -> tuple[str, str]:
    """The start page's title and subtitle: the first window shows them before the pages are built."""
    return (QCoreApplication.translate("StartPage", "Welcome to udap-onboard"),
            QCoreApplication.translate("StartPage", "This wizard connects your practice's software to health "
                                                    "data servers securely, one step at a time."))
