"""Render resources/icons/udap-onboard.svg to the PNG sizes, .ico and .icns the app and installers use.

Run by hand after changing the SVG: ``.venv/bin/python packaging/make_icons.py``. QtSvg (part of
PySide6-Essentials) renders; .ico and .icns are written here with PNG payloads (Windows Vista+ and
macOS 10.7+ read them), so neither Pillow nor any other image library becomes a dependency.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.resources import ICON_SIZES, ICON_SVG, resource_path  # noqa: E402

ICO_SIZES = (16, 32, 48, 64, 128, 256)
# ICNS element types holding PNG data: (type, pixel size). 1024 (ic10) is left out to stay small.
ICNS_TYPES = ((b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256), (b"ic09", 512),
              (b"ic11", 32), (b"ic12", 64), (b"ic13", 256), (b"ic14", 512))


def render_png(svg: Path, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    QGuiApplication.instance() or QGuiApplication(["make_icons", "-platform", "offscreen"])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG", 0)  # for PNG, Qt maps quality 0 to the strongest zlib level; still lossless
    buf.close()
    return bytes(data)


def ico(pngs: dict[int, bytes]) -> bytes:
    """ICONDIR + one 16-byte ICONDIRENTRY per size (0 means 256) + the PNG payloads."""
    sizes = [s for s in ICO_SIZES if s in pngs]
    head = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(head) + 16 * len(sizes)
    entries, blobs = b"", b""
    for s in sizes:
        data = pngs[s]
        entries += struct.pack("<BBBBHHII", s % 256, s % 256, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        blobs += data
    return head + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    """'icns' + big-endian length, a TOC element, then (type, length incl. 8-byte header, PNG)."""
    elements = [(kind, pngs[size]) for kind, size in ICNS_TYPES if size in pngs]
    toc = b"".join(kind + struct.pack(">I", len(data) + 8) for kind, data in elements)
    body = b"TOC " + struct.pack(">I", len(toc) + 8) + toc
    body += b"".join(kind + struct.pack(">I", len(data) + 8) + data for kind, data in elements)
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def main() -> int:
    svg = resource_path(ICON_SVG)
    out = svg.parent
    pngs = {size: render_png(svg, size) for size in sorted(set(ICON_SIZES) | set(ICO_SIZES))}
    for size in ICON_SIZES:
        (out / f"udap-onboard-{size}.png").write_bytes(pngs[size])
    (out / "udap-onboard.ico").write_bytes(ico(pngs))
    (out / "udap-onboard.icns").write_bytes(icns(pngs))
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {len(ICON_SIZES)} PNGs, .ico and .icns to {out} ({total / 1024:.0f} KiB in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
