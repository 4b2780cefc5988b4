"""Check, before Qt starts, that this Linux machine has the system libraries Qt needs.

PySide6's wheels carry Qt but not the X11/xcb, OpenGL and font libraries of the system.
When one is missing Qt aborts with a cryptic "could not load the Qt platform plugin". We
ask the dynamic loader (ldd) which libraries the platform plugin cannot find, map them to
Debian/Ubuntu packages, install them when we are allowed to (root, --install), and
otherwise print the exact command to run.

    python -m desktopchat.platform_check [--install] [--platform xcb|offscreen]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> Debian/Ubuntu package
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libICE.so.6": "libice6",
    "libSM.so.6": "libsm6",
    "libxcb-glx.so.0": "libxcb-glx0",
}


def plugin_path(platform: str) -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    candidate = base / "Qt" / "plugins" / "platforms" / f"libq{platform}.so"
    return candidate if candidate.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    """Sonames the dynamic loader cannot resolve for ``plugin`` (and what it needs)."""
    if shutil.which("ldd") is None:
        return []
    result = subprocess.run(
        ["ldd", str(plugin)], capture_output=True, text=True, check=False, timeout=30
    )
    missing = []
    for line in result.stdout.splitlines():
        if "=> not found" in line:
            name = line.split("=>")[0].strip()
            if name not in missing:
                missing.append(name)
    return missing


def install_command(packages: list[str]) -> str:
    return "sudo apt-get install -y " + " ".join(packages)


def check(platform: str, *, install: bool, need_display: bool = True) -> int:
    if not sys.platform.startswith("linux"):
        return 0
    if (
        need_display
        and platform == "xcb"
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        print(
            "desktopchat: no display found (DISPLAY and WAYLAND_DISPLAY are unset). "
            "Start DesktopChat from a desktop session, or use the command line: "
            'desktopchat chat "..."',
            file=sys.stderr,
        )
        return 1
    plugin = plugin_path(platform)
    if plugin is None:
        print(
            f"desktopchat: PySide6's {platform} platform plugin is not installed.", file=sys.stderr
        )
        return 1
    missing = missing_libraries(plugin)
    if not missing:
        return 0
    packages = sorted({PACKAGES[name] for name in missing if name in PACKAGES})
    unknown = [name for name in missing if name not in PACKAGES]
    print(
        "DesktopChat's window needs system libraries that are missing: " + ", ".join(missing),
        file=sys.stderr,
    )
    can_install = install and packages and shutil.which("apt-get") and os.geteuid() == 0
    if can_install:
        print(f"Installing {' '.join(packages)} with apt-get…", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=False, env=env)
        if done.returncode == 0 and not missing_libraries(plugin):
            return 0
        print(
            "desktopchat: installing them did not work (see apt-get's output above).",
            file=sys.stderr,
        )
    if packages:
        print(f"Install them with:\n    {install_command(packages)}", file=sys.stderr)
    if unknown:
        print(
            f"(No known package for: {', '.join(unknown)}; install your distribution's "
            "package that provides them.)",
            file=sys.stderr,
        )
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--install", action="store_true", help="install missing packages (root)")
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "xcb") or "xcb")
    parser.add_argument(
        "--libraries-only",
        action="store_true",
        help="check the libraries without a display (packaging/build.sh bundles them)",
    )
    args = parser.parse_args(argv)
    platform = args.platform.split(":")[0]
    if platform not in ("xcb", "offscreen"):
        return 0  # wayland and others: nothing we know how to check
    return check(platform, install=args.install, need_display=not args.libraries_only)


if __name__ == "__main__":
    raise SystemExit(main())
