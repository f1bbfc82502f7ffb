"""``udap-onboard --self-check``: prove on the target machine that this installation works.

Run from source and inside the PyInstaller bundle alike, it exercises what a missing file, module,
plugin or system library would break: shipped resources, translations, JWS, the TLS context, the
practice community (in a throwaway data folder), the keyring (only with a dummy secret) and Qt.
One line per check with its time; exit 1 if any check failed. The user's data is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from app import __version__
from app.resources import ICON_SIZES, ICON_SVG, icon_png, iter_resources, resource_path, resource_root

KEYRING_TIMEOUT = 10.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NO_DISPLAY_HINT = ("could not open the display {display}: no display server answers there, or the system "
                   "lacks libraries Qt needs (QT_DEBUG_PLUGINS=1 shows which; the README lists them)")


class CheckFailed(Exception):
    """A check ran and found something wrong; the message is one plain line."""


# ------------------------------------------------------------------ resources and translations

def _qimage(data: bytes, what: str):
    from PySide6.QtGui import QImage

    image = QImage()
    if not image.loadFromData(data) or image.isNull():
        raise CheckFailed(f"{what}: not a readable image")
    return image


def _check_png(path: Path) -> str:
    image = _qimage(path.read_bytes(), path.name)
    named = path.stem.rsplit("-", 1)[-1]
    if named.isdigit() and (image.width(), image.height()) != (int(named), int(named)):
        raise CheckFailed(f"{path.name}: {image.width()}x{image.height()} px, not {named}")
    return f"{image.width()}x{image.height()}"


def _check_svg(path: Path) -> str:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(path.read_bytes())
    except ET.ParseError:
        raise CheckFailed(f"{path.name}: not well-formed XML") from None
    if not root.tag.endswith("svg") or not root.get("viewBox"):
        raise CheckFailed(f"{path.name}: not an SVG with a viewBox")
    return "svg"


def _check_ico(path: Path) -> str:
    data = path.read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    if reserved != 0 or kind != 1 or count == 0:
        raise CheckFailed(f"{path.name}: not an ICO file")
    for i in range(count):
        w, _h, _c, _r, _p, _bpp, size, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * i)
        image = _qimage(data[offset:offset + size], f"{path.name} entry {i}")
        if image.width() != (w or 256):
            raise CheckFailed(f"{path.name} entry {i}: says {w or 256} px, holds {image.width()} px")
    return f"{count} sizes"


def _check_icns(path: Path) -> str:
    data = path.read_bytes()
    if data[:4] != b"icns" or struct.unpack_from(">I", data, 4)[0] != len(data):
        raise CheckFailed(f"{path.name}: not an ICNS file")
    pos, images = 8, 0
    while pos < len(data):
        kind, length = data[pos:pos + 4], struct.unpack_from(">I", data, pos + 4)[0]
        if length < 8 or pos + length > len(data):
            raise CheckFailed(f"{path.name}: damaged element at byte {pos}")
        if data[pos + 8:pos + 16] == PNG_MAGIC:
            _qimage(data[pos + 8:pos + length], f"{path.name} {kind.decode('latin-1')}")
            images += 1
        pos += length
    return f"{images} sizes"


def _check_json(path: Path) -> str:
    if path.name == "communities.json":
        from app.core.community import load_builtin_communities

        return f"{len(load_builtin_communities(path))} communities"
    json.loads(path.read_text(encoding="utf-8"))
    return "json"


LOADERS: dict[str, Callable[[Path], str]] = {".png": _check_png, ".svg": _check_svg, ".ico": _check_ico,
                                            ".icns": _check_icns, ".json": _check_json}


def check_resources() -> str:
    root = resource_root()
    files = list(iter_resources())
    required = [resource_path(ICON_SVG)] + [icon_png(s) for s in ICON_SIZES]
    missing = [p.relative_to(root).as_posix() for p in required if not p.is_file()]
    if missing:
        raise CheckFailed(f"missing in {root}: {', '.join(missing)}")
    kinds: dict[str, int] = {}
    for path in files:
        if path.suffix == ".qm":
            continue  # the translations check loads these
        loader = LOADERS.get(path.suffix.lower())
        if loader is not None:
            loader(path)
        elif not path.read_bytes():
            raise CheckFailed(f"{path.name}: empty")
        kinds[path.suffix.lower() or "other"] = kinds.get(path.suffix.lower() or "other", 0) + 1
    summary = ", ".join(f"{n} {k.lstrip('.')}" for k, n in sorted(kinds.items()))
    return f"{sum(kinds.values())} files loaded ({summary})"


def check_translations() -> str:
    qms = [p for p in iter_resources() if p.suffix == ".qm"]
    if not qms:
        return "none shipped: English is the source language"
    from PySide6.QtCore import QTranslator

    for path in qms:
        translator = QTranslator()
        if not translator.load(str(path)) or translator.isEmpty():
            raise CheckFailed(f"{path.name}: could not be loaded")
    return f"{len(qms)} loaded ({', '.join(p.stem for p in qms)})"


# ------------------------------------------------------------------ crypto, network, practice, keyring

def _self_signed(key):
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "udap-onboard self-check")])
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier("urn:udap-onboard:self-check")]),
                           critical=False)
            .sign(key, hashes.SHA256()))


def check_jws() -> str:
    from app.core import jose
    from app.core.errors import JwsError
    from app.core.keys import KeyType, generate_key

    key = generate_key(KeyType.EC_P256)
    claims = {"iss": "urn:udap-onboard:self-check", "jti": jose.new_jti()}
    token = jose.sign(claims, key, [_self_signed(key)])
    if jose.verify(token, ["ES256"]).claims != claims:
        raise CheckFailed("the verified claims differ from the signed ones")
    head, body, sig = token.split(".")
    tampered = ".".join((head, body, ("A" if sig[0] != "A" else "B") + sig[1:]))
    try:
        jose.verify(tampered, ["ES256"])
    except JwsError:
        pass
    else:
        raise CheckFailed("a tampered signature was accepted")
    return "ES256 with x5c signed and verified; a tampered copy was rejected"


def check_tls() -> str:
    import ssl

    from app.core.http import HttpPolicy, make_client

    policy = HttpPolicy()
    ctx = policy.ssl_context()
    make_client(policy).close()
    cas = ctx.cert_store_stats().get("x509_ca", 0)
    capath = ssl.get_default_verify_paths().capath
    if cas == 0 and not capath:
        raise CheckFailed("no CA certificates found: real servers could not be verified")
    trust = f"{cas} CA certificates" if cas else f"CA folder {capath}"
    return f"TLS {ctx.minimum_version.name.replace('TLSv', '').replace('_', '.')}+ context, {trust}"


def check_practice() -> str:
    from app.core import http, jose
    from app.core.secrets import MemorySecretStore
    from app.core.session import Session

    home = Path(tempfile.mkdtemp(prefix="udap-onboard-selfcheck-"))
    session = Session(home, secrets=MemorySecretStore())
    try:
        info = session.practice.start()
        url = info["base_url"] + "/.well-known/udap"
        exchange = http.get_json(session.http_policy(session.practice.community()), url)
        signed = exchange.json_object().get("signed_metadata")
        if not isinstance(signed, str):
            raise CheckFailed("discovery answered without signed_metadata")
        jose.verify(signed, ["RS256"])
        session.practice.stop()
        if session.practice.running:
            raise CheckFailed("the practice server did not stop")
        return f"started on {info['base_url']}, discovery over TLS verified, stopped"
    finally:
        session.close()
        shutil.rmtree(home, ignore_errors=True)


def check_keyring() -> str:
    import secrets as random
    from importlib.metadata import entry_points

    from app.core.errors import SecretStoreError
    from app.core.secrets import KeyringSecretStore, backend_display_name

    # keyring finds its backends through entry points; without its metadata (a bundle built
    # without copy_metadata("keyring")) it silently falls back to "no keyring".
    found = len(list(entry_points(group="keyring.backends")))
    if found == 0:
        raise CheckFailed("no keyring backends are registered (keyring's package metadata is missing)")
    store = KeyringSecretStore(timeout=KEYRING_TIMEOUT)
    try:
        store.check()
    except SecretStoreError as exc:
        if exc.code != "no_secure_keyring":
            raise
        return (f"no secure keyring on this system (backend: {exc.fields.get('backend', 'none')}); "
                "the app will ask for a passphrase instead. Not a failure")
    name, value = f"self-check-{random.token_hex(6)}", random.token_urlsafe(24)
    try:
        store.set(name, value)
        if store.get(name) != value:
            raise CheckFailed("the keyring returned a different value")
    finally:
        store.delete(name)
    if store.get(name) is not None:
        raise CheckFailed("the dummy secret could not be deleted")
    return f"dummy secret stored, read back and deleted via {backend_display_name(store.backend)}"


# ------------------------------------------------------------------ Qt

def _choose_platform() -> str | None:
    """With a display, try it but fall back to offscreen so a missing library is reported, not fatal."""
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return None
    wanted = []
    if os.environ.get("WAYLAND_DISPLAY"):
        wanted.append("wayland")
    if os.environ.get("DISPLAY"):
        wanted.append("xcb")
    os.environ["QT_QPA_PLATFORM"] = ";".join(wanted + ["offscreen"])
    return wanted[0] if wanted else None


def check_qt() -> str:
    from PySide6 import __version__ as pyside_version
    from PySide6.QtGui import QFontDatabase, QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    expected = None
    if app is None:
        expected = _choose_platform()
        app = QApplication([sys.argv[0] if sys.argv else "udap-onboard"])
    platform = QGuiApplication.platformName()
    if expected and platform == "offscreen":
        display = os.environ.get("WAYLAND_DISPLAY") if expected == "wayland" else os.environ.get("DISPLAY")
        raise CheckFailed(NO_DISPLAY_HINT.format(display=display))
    families = QFontDatabase.families()
    if not families:
        raise CheckFailed("no fonts found: install fontconfig-config and fonts-dejavu-core")
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(icon_png(size)))
    if icon.isNull() or len(icon.availableSizes()) != len(ICON_SIZES):
        raise CheckFailed("the window icon could not be built from the PNGs")

    from app.ui.context import WizardContext
    from app.ui.tasks import TaskRunner
    from app.ui.wizard import OnboardingWizard

    runner = TaskRunner()
    wizard = OnboardingWizard(WizardContext(runner=runner))
    try:
        wizard.setWindowIcon(icon)
        pixmap = wizard.grab()
        if pixmap.isNull() or pixmap.width() == 0:
            raise CheckFailed("the wizard could not be drawn")
        drawn = f"{pixmap.width()}x{pixmap.height()}"
    finally:
        wizard.deleteLater()
        runner.deleteLater()
    return (f"PySide6 {pyside_version}, platform {platform}, {len(families)} font families, "
            f"wizard drawn {drawn}")


def check_locale() -> str:
    """Qt's ICU data (trimmed in the Linux bundle, packaging/icu_trim.py): collation and zone names."""
    import functools

    from PySide6.QtCore import QCollator, QDateTime, QLocale, QTimeZone

    words = ["Zebra", "\u00d6l", "apfel", "\u00c4pfel"]
    orders = {}
    for name in ("de_DE", "sv_SE"):
        orders[name] = sorted(words, key=functools.cmp_to_key(QCollator(QLocale(name)).compare))
    if orders["de_DE"] != ["apfel", "\u00c4pfel", "\u00d6l", "Zebra"] or orders["sv_SE"][-2:] != ["\u00c4pfel", "\u00d6l"]:
        raise CheckFailed(f"locale-aware sorting is broken (ICU collation data missing?): {orders}")
    zone = QTimeZone(b"Europe/Berlin")
    if not zone.isValid():
        return "locale-aware sorting (de, sv) works; no time zone database to check zone names"
    label = zone.displayName(QDateTime.currentDateTime(), QTimeZone.NameType.LongName, QLocale("en_US"))
    if not label or label == "Europe/Berlin":
        raise CheckFailed("time zone names are missing (ICU zone data missing?)")
    return f"locale-aware sorting (de, sv) works; zone names present ({label})"


# ------------------------------------------------------------------ runner

CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("resources", check_resources),
    ("translations", check_translations),
    ("jws", check_jws),
    ("tls", check_tls),
    ("practice community", check_practice),
    ("keyring", check_keyring),
    ("qt widgets", check_qt),
    ("locale data", check_locale),
)


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, CheckFailed):
        return str(exc)
    if isinstance(exc, ImportError) and "cannot open shared object file" in str(exc):
        return f"{str(exc)[:200]} (a system library is missing: install the packages the README names)"
    from app.core.errors import UdapOnboardError

    if isinstance(exc, UdapOnboardError):  # fields never hold secrets by construction
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def run_self_check(out: Callable[[str], object] = print) -> int:
    """Run every check, print one line each (status, name, time, detail); 0 if all passed, else 1."""
    frozen = bool(getattr(sys, "frozen", False))
    where = f"bundle {sys.executable}" if frozen else f"source {Path(__file__).resolve().parent.parent}"
    out(f"udap-onboard {__version__} self-check ({where}; Python {sys.version.split()[0]}, {sys.platform})")
    failed = 0
    started = time.perf_counter()
    for name, check in CHECKS:
        t0 = time.perf_counter()
        try:
            detail, status = check(), "ok"
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            detail, status = _describe_failure(exc), "FAIL"
            failed += 1
        out(f"{status:<4}  {name:<18} {(time.perf_counter() - t0) * 1000:7.0f} ms  {detail}")
    total = time.perf_counter() - started
    if failed:
        out(f"self-check FAILED: {failed} of {len(CHECKS)} checks in {total:.2f} s")
        return 1
    out(f"self-check passed: {len(CHECKS)} checks in {total:.2f} s")
    return 0
