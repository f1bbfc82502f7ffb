"""Shrink Qt's ICU data library (libicudata, 32 MB, a quarter of the bundle) to what Qt uses: ~11 MB.

QtCore links ICU for collation (locale-aware sorting, e.g. in file dialogs), case mapping and time
zone names. The data library also carries what Qt never asks ICU for (Qt has its own CLDR tables for
QLocale): unit, currency, language and region display names, break-iterator dictionaries,
transliteration, spell-out rules, and ~200 legacy code pages (Shift-JIS, EBCDIC...: nothing here
reads those). This repacks ICU's "common data" container without them, byte-compatible with ICU's
own tool (an unfiltered repack is identical to the original, see tests/core/test_packaging.py),
and links it into a library exporting the same symbol with binutils' ``as`` and ``ld``.
Used by packaging/udap-onboard.spec on Linux; ``ICU_TRIM=0`` builds with the full library.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

# Item folders Qt never reads through ICU, and top-level item kinds: code pages (.cnv), StringPrep
# profiles (.spp, Qt's IDNA is its own) and confusables (.cfu). Kept: coll/, zone/, the locale .res
# tree, normalization (.nrm) and the alias/property tables (.icu).
DROP_DIRS = frozenset({"brkitr", "unit", "curr", "lang", "region", "translit", "rbnf"})
DROP_SUFFIXES = (".cnv", ".spp", ".cfu")
PAD = b"\xaa"  # ICU's pkgdata pads with 0xAA


class IcuTrimError(Exception):
    """The library is not the ICU data library we expect, or binutils is missing."""


def _run(*cmd: str) -> str:
    if not shutil.which(cmd[0]):
        raise IcuTrimError(f"{cmd[0]} not found: install binutils, or build with ICU_TRIM=0")
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def extract(library: str | Path) -> tuple[str, bytes]:
    """(symbol name, the common-data bytes) of an ICU data library such as libicudata.so.73."""
    syms = _run("readelf", "-W", "--dyn-syms", str(library))
    m = re.search(r":\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+OBJECT\s+GLOBAL\s+DEFAULT\s+\d+\s+(icudt\d+_dat)\b", syms)
    if not m:
        raise IcuTrimError(f"{library}: no icudt*_dat symbol")
    addr, size, symbol = int(m[1], 16), int(m[2], 0), m[3]
    for line in _run("readelf", "-W", "-S", str(library)).splitlines():
        s = re.search(r"\]\s+\S+\s+\S+\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if s and int(s[1], 16) <= addr < int(s[1], 16) + int(s[3], 16):
            offset = addr - int(s[1], 16) + int(s[2], 16)
            with open(library, "rb") as fh:
                fh.seek(offset)
                return symbol, fh.read(size)
    raise IcuTrimError(f"{library}: {symbol} is in no section")


def parse(data: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(header, [(item name, item bytes)]) of a little-endian ICU common-data (CmnD) package."""
    header_size = struct.unpack_from("<H", data, 0)[0]
    if data[2:4] != b"\xda\x27" or data[12:16] != b"CmnD" or data[8] != 0:
        raise IcuTrimError("not a little-endian ICU common data package")
    count = struct.unpack_from("<I", data, header_size)[0]
    toc = [struct.unpack_from("<II", data, header_size + 4 + 8 * i) for i in range(count)]
    starts = sorted(d for _, d in toc) + [len(data) - header_size]
    nxt = dict(zip(starts, starts[1:]))
    items = []
    for name_off, data_off in toc:
        at = header_size + name_off
        name = data[at:data.index(b"\0", at)].decode("ascii")
        items.append((name, data[header_size + data_off:header_size + nxt[data_off]]))
    return data[:header_size], items


def pack(header: bytes, items: list[tuple[str, bytes]]) -> bytes:
    """The inverse of parse: sorted TOC, names, then each item on a 16-byte boundary."""
    items = sorted(items)
    base = 4 + 8 * len(items)
    names, name_offsets, at = [], [], base
    for name, _ in items:
        name_offsets.append(at)
        names.append(name.encode("ascii") + b"\0")
        at += len(names[-1])
    names.append(PAD * ((-at) % 16))
    at += len(names[-1])
    body, data_offsets = [], []
    for _, item in items:
        data_offsets.append(at)
        body.append(item + PAD * ((-len(item)) % 16))
        at += len(body[-1])
    toc = [struct.pack("<I", len(items))] + [struct.pack("<II", n, d) for n, d in zip(name_offsets, data_offsets)]
    return b"".join([header, *toc, *names, *body])


def wanted(name: str) -> bool:
    rest = name.split("/", 1)[1]
    if "/" in rest:
        return rest.split("/", 1)[0] not in DROP_DIRS
    return not rest.endswith(DROP_SUFFIXES)


def trim_library(library: str | Path, workdir: str | Path) -> Path:
    """Write a trimmed copy of ``library`` (same file name and SONAME) into ``workdir``; return its path."""
    library, workdir = Path(library), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    symbol, data = extract(library)
    header, items = parse(data)
    (workdir / "icudata.dat").write_bytes(pack(header, [(n, d) for n, d in items if wanted(n)]))
    (workdir / "icudata.s").write_text(
        "    .section .rodata\n"
        f"    .globl {symbol}\n    .type {symbol}, @object\n    .balign 16\n{symbol}:\n"
        '    .incbin "icudata.dat"\n'
        f"    .size {symbol}, . - {symbol}\n"
        '    .section .note.GNU-stack,"",@progbits\n', encoding="ascii")
    out = workdir / library.name
    _run("as", "-I", str(workdir), "-o", str(workdir / "icudata.o"), str(workdir / "icudata.s"))
    _run("ld", "-shared", "-soname", library.name, "-z", "noexecstack", "-o", str(out), str(workdir / "icudata.o"))
    return out
