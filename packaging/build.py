"""Build DesktopChat's installable package for this operating system.

    ./packaging/build.sh [--gpu cuda|vulkan|metal]        (or: make package)

Steps: (1) check that llama-cpp-python in this environment is the wanted build (CPU, or
CUDA, Vulkan, Metal: build.sh compiled it with the matching CMAKE_ARGS); (2) run
PyInstaller on packaging/desktopchat.spec (one folder); (3) check what went
in and report its size; (4) wrap it for the OS:

- Linux: build/DesktopChat-<version>-linux-<arch>[-<gpu>].tar.gz, a folder laid out as an
  AppDir (AppRun, .desktop, icon) with install.sh/uninstall.sh for a per-user install
  (menu entry, icons, AppStream metadata, .gguf file type). When `appimagetool` is on
  PATH (or $APPIMAGETOOL names it) an AppImage is made from the same folder as well.
- Windows: build/DesktopChat-<version>-windows-x64[-<gpu>]-setup.exe with Inno Setup 6.
- macOS: build/DesktopChat-<version>-macos-<arch>.dmg holding DesktopChat.app, signed and
  notarized when DESKTOPCHAT_CODESIGN_IDENTITY and DESKTOPCHAT_NOTARY_PROFILE are set.

Each package is built on its own OS (PyInstaller does not cross-compile); run on another,
this script stops at once and says where to run it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desktopchat import APP_ID, __version__  # noqa: E402

BUILD = ROOT / "build"
LLAMA = "llama-cpp-python==0.3.36"
TARGETS = {"linux": "Linux", "windows": "Windows", "macos": "Darwin"}
# The ggml backend each GPU variant must have (build.sh compiles it in build/venv-<gpu>).
GPU_BACKEND = {"cuda": "CUDA", "vulkan": "Vulkan", "metal": "Metal"}
GPU_TARGETS = {"cuda": ("linux", "windows"), "vulkan": ("linux", "windows"), "metal": ("macos",)}
# Never in a bundle: test suites, build tools (as folders or as bundled modules), and the
# libraries of Qt modules DesktopChat does not use.
FORBIDDEN_MODULES = ("pytest", "_pytest", "hypothesis", "mypy", "PyInstaller", "tests", "bench")
FORBIDDEN_FILES = (
    "libQt6WebEngine",
    "Qt6WebEngine",
    "QtWebEngine",
    "libQt6Quick",
    "libQt6Qml",
    "libQt6Pdf",
    "libQt6Multimedia",
    "libQt63D",
)
SIZE_LIMIT_MB = 470  # the folder, starter model (94 MiB) included (445 with the MCP SDK)


class BuildError(Exception):
    pass


def host_target() -> str:
    system = platform.system()
    return next((t for t, s in TARGETS.items() if s == system), system.lower())


def check_target(target: str, gpu: str) -> None:
    """Stop with a clear message when this machine cannot build what was asked."""
    here = host_target()
    if target != here:
        how = {
            "windows": "on Windows with Python 3.11-3.13, a C++ compiler (Visual Studio "
            "Build Tools) and Inno Setup 6: py packaging\\build.py windows",
            "macos": "on a Mac with Python 3.11-3.13 and the Xcode command line tools: "
            "./packaging/build.sh macos",
            "linux": "on Linux: make package",
        }[target]
        raise BuildError(
            f"the {target} package cannot be built on {platform.system()}: PyInstaller "
            f"bundles the running system's libraries and does not cross-compile. Build it {how}."
        )
    if gpu != "cpu" and target not in GPU_TARGETS[gpu]:
        raise BuildError(f"a {gpu} build is for {' or '.join(GPU_TARGETS[gpu])}, not {target}")


def package_stem(target: str, gpu: str) -> str:
    machine = {"AMD64": "x64"}.get(platform.machine(), platform.machine())
    variant = f"-{gpu}" if gpu != "cpu" else ""
    return f"DesktopChat-{__version__}-{target}-{machine}{variant}"


def check_backend(gpu: str) -> str:
    """Ask the engine in a fresh interpreter which backends it has."""
    code = (
        "from desktopchat.core.inference.llama import LlamaEngine;"
        "i=LlamaEngine().backend_info();print(','.join(i.backends));print(i.summary())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=BUILD
    )
    backends, summary = done.stdout.strip().splitlines()[-2:]
    if gpu != "cpu" and GPU_BACKEND[gpu] not in backends.split(","):
        raise BuildError(f"llama.cpp was built without {GPU_BACKEND[gpu]}: {summary}")
    return summary


def run_pyinstaller(target: str, dist: Path) -> Path:
    work = BUILD / "pyinstaller"
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level"]
    command += ["WARN", "--distpath", str(dist), "--workpath", str(work)]
    command.append(str(ROOT / "packaging" / "desktopchat.spec"))
    # A checkout's desktopchat.egg-info would shadow the installed metadata.
    subprocess.run(command, check=True, env={**os.environ, "DESKTOPCHAT_TARGET": target}, cwd=BUILD)
    return dist / "DesktopChat"


def write_notices(folder: Path) -> None:
    from desktopchat.core.notices import notices_text

    (folder / "THIRD-PARTY-NOTICES.txt").write_text(notices_text(), encoding="utf-8")
    shutil.copyfile(ROOT / "LICENSE", folder / "LICENSE.txt")


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def check_bundle(folder: Path, modules: list[str]) -> list[str]:
    """What must not be in a bundle, among ``folder``'s files and the Python ``modules``
    packed into its executable (empty when it is clean)."""
    found = [m for m in modules if m.split(".")[0] in FORBIDDEN_MODULES]
    for path in folder.rglob("*"):
        if (path.name in FORBIDDEN_MODULES and path.is_dir()) or path.name.startswith(
            FORBIDDEN_FILES
        ):
            found.append(str(path.relative_to(folder)))
    return found


def packed_modules(work: Path) -> list[str]:
    """The modules PyInstaller packed (its PYZ table of contents)."""
    import ast

    toc = next(work.rglob("PYZ-00.toc"), None)
    if toc is None:
        raise BuildError(f"PyInstaller left no PYZ-00.toc under {work}")
    _archive, entries = ast.literal_eval(toc.read_text(encoding="utf-8"))
    return [entry[0] for entry in entries]


def size_report(folder: Path) -> tuple[int, str]:
    """The folder's size in bytes (links not counted twice), and a report of it."""
    items = [
        (child.stat().st_size, child.relative_to(folder))
        for child in folder.rglob("*")
        if child.is_file() and not child.is_symlink()
    ]
    items.sort(reverse=True)
    total = sum(size for size, _ in items)
    lines = [f"bundle {folder.name}: {total / 2**20:.1f} MiB in {len(items)} files; largest:"]
    lines += [f"  {size / 2**20:7.1f} MiB  {path}" for size, path in items[:12]]
    return total, "\n".join(lines)


def linux_package(bundle: Path, stem: str) -> list[Path]:
    """The AppDir-shaped folder, its tarball, and an AppImage when the tool is here."""
    appdir = BUILD / stem
    if appdir.exists():
        shutil.rmtree(appdir)
    shutil.copytree(bundle, appdir, symlinks=True)
    share = appdir / "share"
    linux = ROOT / "assets" / "linux"
    shutil.copytree(ROOT / "assets" / "icons", share / "icons")
    for folder, name in (
        ("applications", f"{APP_ID}.desktop"),
        ("metainfo", f"{APP_ID}.metainfo.xml"),
        ("mime/packages", f"{APP_ID}.xml"),
    ):
        (share / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(linux / name, share / folder / name)
    # AppDir conventions: AppRun, the .desktop entry and the icon at the top.
    (appdir / "AppRun").symlink_to("desktopchat")
    shutil.copyfile(linux / f"{APP_ID}.desktop", appdir / f"{APP_ID}.desktop")
    icon = ROOT / "assets" / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png"
    shutil.copyfile(icon, appdir / f"{APP_ID}.png")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copyfile(ROOT / "packaging" / "linux" / script, appdir / script)
        (appdir / script).chmod(0o755)
    shutil.copyfile(ROOT / "packaging" / "linux" / "README.txt", appdir / "README.txt")
    write_notices(appdir)
    made = [appdir]
    tarball = BUILD / f"{stem}.tar.gz"
    with tarfile.open(tarball, "w:gz", compresslevel=6) as archive:
        archive.add(appdir, arcname=stem)
    made.append(tarball)
    tool = os.environ.get("APPIMAGETOOL") or shutil.which("appimagetool")
    if tool:
        appimage = BUILD / f"{stem}.AppImage"
        env = {**os.environ, "ARCH": platform.machine()}
        subprocess.run([tool, "--no-appstream", str(appdir), str(appimage)], check=True, env=env)
        made.append(appimage)
    else:
        print(
            "build: no appimagetool here (it is only published on GitHub releases, which "
            "this machine cannot reach): made the tarball with its installer script. With "
            f"the tool: APPIMAGETOOL=/path/to/appimagetool {sys.argv[0]}",
            flush=True,
        )
    return made


def windows_package(bundle: Path, stem: str) -> list[Path]:
    iscc = os.environ.get("ISCC") or shutil.which("iscc") or shutil.which("ISCC")
    default = Path(os.environ.get("PROGRAMFILES(X86)", "C:/Program Files (x86)"))
    candidate = default / "Inno Setup 6" / "ISCC.exe"
    if not iscc and candidate.is_file():
        iscc = str(candidate)
    if not iscc:
        raise BuildError("Inno Setup 6 is needed (https://jrsoftware.org/isdl.php), or set ISCC")
    write_notices(bundle)
    script = ROOT / "packaging" / "windows" / "desktopchat.iss"
    defines = [f"/DAppVersion={__version__}", f"/DSourceDir={bundle}", f"/DOutputBase={stem}"]
    defines += [f"/DOutputDir={BUILD}", f"/DRepoDir={ROOT}"]
    subprocess.run([iscc, *defines, str(script)], check=True)
    return [BUILD / f"{stem}-setup.exe"]


def macos_package(dist: Path, stem: str) -> list[Path]:
    app = dist / "DesktopChat.app"
    write_notices(app / "Contents" / "Resources")
    identity = os.environ.get("DESKTOPCHAT_CODESIGN_IDENTITY")
    entitlements = ROOT / "packaging" / "macos" / "entitlements.plist"
    if identity:
        subprocess.run(
            [
                *("codesign", "--force", "--deep", "--options", "runtime", "--timestamp"),
                *("--entitlements", str(entitlements), "--sign", identity, str(app)),
            ],
            check=True,
        )
    stage = BUILD / "dmg"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    shutil.copytree(app, stage / "DesktopChat.app", symlinks=True)
    (stage / "Applications").symlink_to("/Applications")
    dmg = BUILD / f"{stem}.dmg"
    dmg.unlink(missing_ok=True)
    subprocess.run(
        [
            *("hdiutil", "create", "-volname", "DesktopChat", "-srcfolder", str(stage)),
            *("-ov", "-format", "UDZO", str(dmg)),
        ],
        check=True,
    )
    profile = os.environ.get("DESKTOPCHAT_NOTARY_PROFILE")
    if identity and profile:
        subprocess.run(["codesign", "--sign", identity, "--timestamp", str(dmg)], check=True)
        subprocess.run(
            ["xcrun", "notarytool", "submit", str(dmg), "--keychain-profile", profile, "--wait"],
            check=True,
        )
        subprocess.run(["xcrun", "stapler", "staple", str(dmg)], check=True)
    elif not identity:
        print("build: not signed (set DESKTOPCHAT_CODESIGN_IDENTITY to sign)", flush=True)
    return [dmg]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS), default=host_target())
    parser.add_argument("--gpu", choices=["cpu", *GPU_BACKEND], default="cpu")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        check_target(args.target, args.gpu)
        BUILD.mkdir(exist_ok=True)
        print(f"build: engine backend: {check_backend(args.gpu)}", flush=True)
        stem = package_stem(args.target, args.gpu)
        dist = BUILD / "dist"
        bundle = run_pyinstaller(args.target, dist)
        unwanted = check_bundle(bundle, packed_modules(BUILD / "pyinstaller"))
        if unwanted:
            raise BuildError(f"the bundle holds what it must not: {', '.join(unwanted[:10])}")
        total, report = size_report(bundle)
        size_mb = total / 2**20
        if size_mb > SIZE_LIMIT_MB:
            raise BuildError(f"the bundle is {size_mb:.0f} MiB, over {SIZE_LIMIT_MB}:\n{report}")
        if args.target == "linux":
            made = linux_package(bundle, stem)
        elif args.target == "windows":
            made = windows_package(bundle, stem)
        else:
            made = macos_package(dist, stem)
    except BuildError as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(
            f"build: {' '.join(map(str, exc.cmd[:4]))}… failed ({exc.returncode})", file=sys.stderr
        )
        return 1
    (BUILD / "size-report.txt").write_text(report + "\n", encoding="utf-8")
    print(report)
    for path in made:
        size = folder_size(path) if path.is_dir() else path.stat().st_size
        print(f"build: {path.relative_to(ROOT)}  ({size / 2**20:.1f} MiB)")
    print(f"build: done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
