"""Render assets/desktopchat.svg into every icon file the installers need.

    python packaging/make_icons.py        (writes under assets/, committed)

- assets/icons/hicolor/<N>x<N>/apps/<APP_ID>.png and scalable/apps/<APP_ID>.svg:
  the freedesktop icon theme layout (Linux menus, AppStream);
- assets/desktopchat.ico: Windows (16 to 256 px, PNG-compressed entries);
- assets/desktopchat.icns: macOS (16 to 1024 px, PNG entries);
- desktopchat/resources/desktopchat.png: the window icon.

ICO and ICNS are written here, not by an image library: both are a small header and a
table of PNG files.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "io.github.desktopchat.DesktopChat"
SOURCE = ROOT / "assets" / "desktopchat.svg"
THEME_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS types holding PNG data: (type, pixels)
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"icp6", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic09", 512),
    (b"ic10", 1024),
    (b"ic11", 32),  # 16 px @2x
    (b"ic12", 64),  # 32 px @2x
    (b"ic13", 256),  # 128 px @2x
    (b"ic14", 512),  # 256 px @2x
)


def render(renderer: QSvgRenderer, size: int) -> bytes:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def ico(pngs: dict[int, bytes]) -> bytes:
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = 6 + 16 * len(pngs)
    entries, blobs = b"", b""
    for size, png in sorted(pngs.items()):
        side = 0 if size >= 256 else size  # 0 means 256 in an ICO directory
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        blobs += png
        offset += len(png)
    return header + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    body = b"".join(
        kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        print(f"make_icons: cannot read {SOURCE}", file=sys.stderr)
        return 1
    sizes = sorted({*THEME_SIZES, *ICO_SIZES, *(s for _, s in ICNS_TYPES)})
    pngs = {size: render(renderer, size) for size in sizes}
    theme = ROOT / "assets" / "icons" / "hicolor"
    for size in THEME_SIZES:
        folder = theme / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{APP_ID}.png").write_bytes(pngs[size])
    (theme / "scalable" / "apps").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, theme / "scalable" / "apps" / f"{APP_ID}.svg")
    (ROOT / "assets" / "desktopchat.ico").write_bytes(ico({s: pngs[s] for s in ICO_SIZES}))
    (ROOT / "assets" / "desktopchat.icns").write_bytes(icns(pngs))
    (ROOT / "desktopchat" / "resources" / "desktopchat.png").write_bytes(pngs[256])
    del app
    print(f"make_icons: wrote {len(THEME_SIZES)} theme sizes, desktopchat.ico, desktopchat.icns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
