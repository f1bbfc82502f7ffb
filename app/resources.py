"""Where the shipped files (icons, translations, catalogs) live: the source tree or the PyInstaller bundle.

One function decides, so the GUI, the CLI and ``--self-check`` all look in the same place. Only the
standard library is used: the core may read a bundled file without pulling Qt in.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

# Set by the spec (``datas``) and by a source checkout alike: <root>/resources/...
RESOURCE_DIR = "resources"
ENV_OVERRIDE = "UDAP_ONBOARD_RESOURCES"
APP_ID = "org.udaponboard.UdapOnboard"
ICON_SVG = "icons/udap-onboard.svg"
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)


def resource_root() -> Path:
    """``$UDAP_ONBOARD_RESOURCES``, else ``sys._MEIPASS/resources`` when frozen, else ``<repo>/resources``."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / RESOURCE_DIR
    return Path(__file__).resolve().parent.parent / RESOURCE_DIR


def resource_path(*parts: str) -> Path:
    """A file under the resource root (it may not exist; callers that need it check)."""
    return resource_root().joinpath(*parts)


def icon_png(size: int) -> Path:
    return resource_path("icons", f"udap-onboard-{size}.png")


def iter_resources() -> Iterator[Path]:
    """Every shipped file, sorted, so a self-check can load each one."""
    root = resource_root()
    if not root.is_dir():
        return iter(())
    return iter(sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")))
