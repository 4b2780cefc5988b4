"""The Linux package, built from this checkout and run the way a user runs it: from the
unpacked tarball, with no Python to be found (PATH empty, and every Python installation
on the machine hidden under an empty tmpfs in a private mount namespace) and an empty
DESKTOPCHAT_HOME. Slow: it runs packaging/build.sh (PyInstaller) first."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopchat import APP_ID, __version__

pytestmark = [pytest.mark.slow, pytest.mark.real_model, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent.parent
PROMPT = "What is the capital of France? Answer in one sentence."
STEM = f"DesktopChat-{__version__}-linux-{platform.machine()}"
# 250 until the MCP SDK came in (pydantic-core, jsonschema, rpds: 2.5 MiB packed, 250.0 MiB
# in all); what grows past this is a choice to make, not a test to loosen in passing.
TARBALL_LIMIT_MB = 260
# Run a command with every Python installation hidden: "$0" is a colon-separated list of
# folders to cover with an empty tmpfs; then the command runs with an empty environment
# but for what follows, and a PATH holding one empty folder.
HIDE_PYTHON = r"""
set -e
empty="$1"; shift
IFS=:
for folder in $0; do mount -t tmpfs -o size=1m tmpfs "$folder"; done
unset IFS
if PATH="$empty" command -v python3 python >/dev/null 2>&1; then exit 97; fi
exec /usr/bin/env PATH="$empty" "$@"
"""


def python_folders() -> list[str]:
    """Where this machine keeps Python: the interpreter running the tests (its base
    installation and the venv) and the system's python3 libraries."""
    folders = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    for lib in (Path("/usr/lib"), Path("/usr/local/lib")):
        folders.update(p for p in lib.glob("python3*") if p.is_dir())
    return sorted(str(f) for f in folders if f not in (Path("/usr"), Path("/usr/local")))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    env = {**os.environ, "DESKTOPCHAT_VENV": sys.prefix}
    built = subprocess.run(
        [str(ROOT / "packaging" / "build.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    print(built.stdout[-2500:])  # the size report, in the test log
    tarball = ROOT / "build" / f"{STEM}.tar.gz"
    size_mb = tarball.stat().st_size / 2**20
    print(f"package {tarball.name}: {size_mb:.1f} MiB")
    assert size_mb < TARBALL_LIMIT_MB
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(tarball) as archive:
        archive.extractall(unpacked, filter="tar")
    yield unpacked / STEM


def run_without_python(
    bundle: Path, args: list[str], home: Path, *env: str, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    assert shutil.which("unshare"), "unshare (util-linux) is missing; test.sh installs it"
    empty = home.parent / "empty-bin"
    empty.mkdir(exist_ok=True)
    variables = [f"HOME={home}", f"DESKTOPCHAT_HOME={home}", "LANG=C.UTF-8", *env]
    command = ["unshare", "-rm", "sh", "-c", HIDE_PYTHON, ":".join(python_folders())]
    command += [str(empty), *variables, str(bundle / "desktopchat"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def test_the_bundle_chats_offline_with_the_starter_model_without_python(
    bundle: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = run_without_python(bundle, ["chat", "--max-tokens", "40", PROMPT], home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stdout.strip()) > 20  # the starter model answered
    assert (home / "data" / "desktopchat.sqlite3").is_file()  # kept under the empty home
    shown = run_without_python(bundle, ["about", "--json"], home)
    assert shown.returncode == 0, shown.stderr[-3000:]
    about = json.loads(shown.stdout)
    assert about["version"] == __version__
    assert about["backend"].startswith("CPU")
    assert Path(about["starter_model"]).is_relative_to(bundle)  # the bundled copy
    names = {c["name"] for c in about["components"]}
    assert {"desktopchat", "Qt", "llama.cpp", "SmolLM2-135M-Instruct (starter model)"} <= names


def test_the_bundle_paints_its_window_offscreen(bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    picture = tmp_path / "window.png"
    done = run_without_python(
        bundle, ["--self-test", str(picture)], home, "QT_QPA_PLATFORM=offscreen"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "self-test: painted the window" in done.stdout
    assert "SmolLM2-135M-Instruct" in done.stdout and " on CPU" in done.stdout
    from PySide6.QtGui import QImage  # here, not in the bundle: only to look at the picture

    image = QImage(str(picture))
    assert image.width() >= 800 and image.height() >= 500
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, 200, 7)}
    assert len(colours) > 20  # widgets and text, not a blank surface


def test_the_bundle_finds_the_keychain(
    bundle: Path, tmp_path: Path, keychain: dict[str, str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bus = f"DBUS_SESSION_BUS_ADDRESS={keychain['DBUS_SESSION_BUS_ADDRESS']}"
    done = run_without_python(bundle, ["about", "--json"], home, bus)
    assert done.returncode == 0, done.stderr[-3000:]
    status = json.loads(done.stdout)["keychain"]
    assert status["available"], status  # keyring's Secret Service backend was bundled
    assert status["backend"].startswith("Secret Service")


def test_install_sh_adds_the_menu_entry_and_uninstall_sh_removes_it(
    bundle: Path, tmp_path: Path
) -> None:
    home = tmp_path / "user"
    home.mkdir()
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    done = subprocess.run(
        [str(bundle / "install.sh")], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    share = home / ".local" / "share"
    entry = (share / "applications" / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    installed = share / "desktopchat" / "desktopchat"
    assert f'Exec="{installed}" %f' in entry
    assert (share / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").is_file()
    assert (share / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert (share / "mime" / "packages" / f"{APP_ID}.xml").is_file()
    version = subprocess.run(
        [str(home / ".local" / "bin" / "desktopchat"), "--version"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert version.stdout.strip() == f"DesktopChat {__version__}"
    done = subprocess.run(
        [str(installed.parent / "uninstall.sh")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not installed.exists()
    assert not (share / "applications" / f"{APP_ID}.desktop").exists()
    assert not list((share / "icons").rglob(f"{APP_ID}.*"))
