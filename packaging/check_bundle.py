"""Check a built bundle's contents without running it: size, and (Linux) that its libraries are complete.

Every library a bundled ELF file needs must be in the bundle or in the short list the target system
provides. The check reads the bundle only, so a build host that lacked, say, libxcb-icccm4 (and so
shipped a bundle without it) fails here even though the same host would find the library via ldd.
Usage: python packaging/check_bundle.py dist/udap-onboard    (a one-file executable: size only)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# From the target system: glibc, the C++ runtime (mesa/LLVM need the target's own), the GL stack,
# libxcb/libX11 and fontconfig/freetype (the spec's SYSTEM_LIBS; the README's apt line for a bare system).
SYSTEM = re.compile(r"^(ld-linux.*|libc|libm|libdl|libpthread|librt|libutil|libresolv|libstdc\+\+|libgcc_s|"
                    r"libEGL|libGL|libGLX|libOpenGL|libxcb|libX11|libX11-xcb|libfontconfig|libfreetype)"
                    r"\.so(\.\d+)*$")
# Must never be in the bundle: they mean the Qt filters in the spec stopped working.
FORBIDDEN = re.compile(r"libgtk-3|libgdk-3|libqgtk3|libcairo|libpango|libQt6Network|libQt6Qml|libQt6Quick|"
                       r"libQt6WaylandClient|/translations/qtbase_")


def elf_files(root: Path) -> list[Path]:
    out = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    out.append(path)
    return out


def needed(path: Path) -> list[str]:
    text = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=False).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", text)


def check(root: Path) -> list[str]:
    problems = []
    names = {p.name for p in root.rglob("*")}
    for path in root.rglob("*"):
        if FORBIDDEN.search(path.as_posix()):
            problems.append(f"should not be bundled: {path.relative_to(root)}")
    if sys.platform.startswith("linux"):
        for path in elf_files(root):
            for lib in needed(path):
                if lib not in names and not SYSTEM.match(lib):
                    problems.append(f"{path.relative_to(root)} needs {lib}, which is neither bundled nor a "
                                    "system library (install it on the build host and build again)")
    return problems


def size(root: Path) -> tuple[int, int]:
    if root.is_file():
        return root.stat().st_size, 1
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    root = Path(argv[0])
    total, count = size(root)
    print(f"{root}: {total / 1e6:.1f} MB ({total / 2**20:.1f} MiB), {count} files")
    if root.is_file():
        return 0
    problems = check(root)
    for line in problems:
        print(f"  problem: {line}")
    if problems:
        return 1
    print("  libraries complete: every NEEDED entry is bundled or comes from the target system")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
