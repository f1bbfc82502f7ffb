"""Packaging files that can be checked without building: icons, desktop metadata, the bundle checker."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app import __version__
from app.resources import APP_ID, ICON_SIZES, icon_png, resource_root

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resources_are_small_and_complete():
    files = [p for p in resource_root().rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 300 * 1024
    for size in ICON_SIZES:
        assert icon_png(size).is_file()


def test_ico_and_icns_are_in_sync_with_the_pngs():
    make_icons = load("make_icons")
    pngs = {size: icon_png(size).read_bytes() for size in ICON_SIZES}
    icons = resource_root() / "icons"
    assert make_icons.ico(pngs) == (icons / "udap-onboard.ico").read_bytes()
    assert make_icons.icns(pngs) == (icons / "udap-onboard.icns").read_bytes()


def test_desktop_file_and_metainfo_agree_with_the_app():
    desktop = (LINUX / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    assert f"\nIcon={APP_ID}\n" in desktop
    assert "\nExec=udap-onboard\n" in desktop
    meta = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert meta.findtext("id") == APP_ID
    assert meta.findtext("launchable") == f"{APP_ID}.desktop"
    releases = [r.get("version") for r in meta.iter("release")]
    assert releases[0] == __version__, "add a <release> to the metainfo when the version changes"


@pytest.mark.parametrize("tool, args, name", [
    ("desktop-file-validate", [], f"{APP_ID}.desktop"),
    ("appstreamcli", ["validate", "--no-net"], f"{APP_ID}.metainfo.xml"),
])
def test_validators_accept_the_desktop_files(tool, args, name):
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed")
    proc = subprocess.run([tool, *args, str(LINUX / name)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_build_script_is_posix_sh():
    proc = subprocess.run(["sh", "-n", str(ROOT / "packaging" / "build.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_bundle_checker_finds_missing_and_forbidden_libraries(tmp_path):
    if not shutil.which("readelf"):
        pytest.skip("readelf (binutils) is not installed")
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqoffscreen.so"
    if not plugin.is_file():
        pytest.skip("this PySide6 has no libqoffscreen.so")
    check_bundle = load("check_bundle")
    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    shutil.copy(plugin, bundle / "_internal" / plugin.name)
    missing = check_bundle.check(bundle)
    assert any("needs libQt6Gui.so.6" in p for p in missing), missing
    for line in missing:  # give it every library it asked for (names are all the checker looks at)
        (bundle / "_internal" / re.search(r"needs (\S+),", line).group(1)).touch()
    assert check_bundle.check(bundle) == []
    (bundle / "_internal" / "libqgtk3.so").touch()
    assert check_bundle.check(bundle) == ["should not be bundled: _internal/libqgtk3.so"]


def _icu_library() -> Path:
    import PySide6

    found = sorted((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"))
    if not found or not shutil.which("readelf"):
        pytest.skip("no bundled ICU data library (not Linux?) or no readelf")
    return found[0]


def test_icu_repack_without_filter_is_byte_identical():
    icu_trim = load("icu_trim")
    symbol, data = icu_trim.extract(_icu_library())
    header, items = icu_trim.parse(data)
    assert symbol.startswith("icudt") and len(items) > 1000
    assert icu_trim.pack(header, items) == data


def test_icu_filter_keeps_collation_and_zones_and_drops_code_pages():
    icu_trim = load("icu_trim")
    assert icu_trim.wanted("icudt73l/coll/de.res") and icu_trim.wanted("icudt73l/zone/de.res")
    assert icu_trim.wanted("icudt73l/de.res") and icu_trim.wanted("icudt73l/cnvalias.icu")
    assert not icu_trim.wanted("icudt73l/ibm-1047_P100-1995.cnv")
    assert not icu_trim.wanted("icudt73l/curr/de.res") and not icu_trim.wanted("icudt73l/brkitr/thaidict.dict")


def test_trimmed_icu_still_sorts_and_names_zones(tmp_path):
    """Qt loaded with the trimmed library (LD_LIBRARY_PATH wins over PySide6's RUNPATH) passes the locale check."""
    if not (shutil.which("as") and shutil.which("ld")):
        pytest.skip("binutils (as, ld) is not installed")
    icu_trim = load("icu_trim")
    library = _icu_library()
    trimmed = icu_trim.trim_library(library, tmp_path)
    assert trimmed.name == library.name
    assert trimmed.stat().st_size < library.stat().st_size / 2
    env = {**os.environ, "LD_LIBRARY_PATH": str(tmp_path), "PYTHONPATH": str(ROOT)}
    code = ("from app.selfcheck import check_locale; print(check_locale()); "
            "print([l for l in open('/proc/self/maps') if 'libicudata' in l][0])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "locale-aware sorting (de, sv) works" in proc.stdout
    assert str(tmp_path) in proc.stdout  # the trimmed copy was the one loaded
