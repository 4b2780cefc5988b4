"""Library management without a window: models other apps already have, used in place;
when each model was last used; the models folder the user chose."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from desktopchat.core.models.elsewhere import (
    GPT4ALL,
    HF_CACHE,
    LM_STUDIO,
    find_elsewhere,
    other_app_folders,
)
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core
from desktopchat.core.settings import AppSettings, save_settings
from tests.processes import run_cli


def other_apps_home(home: Path, starter_model: Path) -> dict[str, Path]:
    """A home folder laid out as the Hugging Face cache, LM Studio and GPT4All leave it."""
    repo = home / ".cache/huggingface/hub/models--bartowski--SmolLM2-GGUF"
    blob = repo / "blobs" / ("a" * 64)
    blob.parent.mkdir(parents=True)
    blob.symlink_to(starter_model)  # a real blob; linked to save disk in the test
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "SmolLM2-Q4_1.gguf").symlink_to(Path("../../blobs") / ("a" * 64))
    (snapshot / "mmproj-SmolLM2-f16.gguf").write_bytes(b"GGUF")  # a vision projector
    (snapshot / "missing.gguf").symlink_to(Path("../../blobs") / ("b" * 64))  # unfinished
    lm = home / ".lmstudio/models/lmstudio-community/Tiny-GGUF"
    lm.mkdir(parents=True)
    (lm / "tiny-Q8_0.gguf").write_bytes(b"GGUF" + bytes(100))
    (lm / "big-00002-of-00002.gguf").write_bytes(b"GGUF")  # a second part: not listed
    (lm / "big-00001-of-00002.gguf").write_bytes(b"GGUF" + bytes(10))
    gpt4all = home / ".local/share/nomic.ai/GPT4All"
    gpt4all.mkdir(parents=True)
    (gpt4all / "orca-mini-3b.gguf").write_bytes(b"GGUF" + bytes(50))
    (gpt4all / "localdocs_v2.db").write_bytes(b"")
    return {"hf": snapshot / "SmolLM2-Q4_1.gguf", "gpt4all": gpt4all / "orca-mini-3b.gguf"}


def test_models_in_other_apps_are_found_and_used_in_place(
    tmp_path: Path, starter_model: Path, paths: AppPaths
) -> None:
    home = tmp_path / "user"
    made = other_apps_home(home, starter_model)
    folders = other_app_folders(home, env={}, platform="linux")
    found = find_elsewhere(folders, known=set())
    assert [(m.app, m.path.name) for m in found] == [
        (GPT4ALL, "orca-mini-3b.gguf"),
        (HF_CACHE, "SmolLM2-Q4_1.gguf"),
        (LM_STUDIO, "big-00001-of-00002.gguf"),
        (LM_STUDIO, "tiny-Q8_0.gguf"),
    ]
    assert found[1].size == starter_model.stat().st_size
    # The environment moves the Hugging Face cache, as huggingface_hub reads it.
    moved = other_app_folders(home, env={"HF_HOME": str(tmp_path / "hf")}, platform="linux")
    assert (HF_CACHE, tmp_path / "hf" / "hub") in moved
    mac = dict(other_app_folders(home, env={}, platform="darwin"))
    assert mac[GPT4ALL] == home / "Library/Application Support/nomic.ai/GPT4All"

    core = open_core(paths)
    try:
        model = core.library.import_file(made["hf"])  # in place: no copy
        assert model.path == made["hf"] and model.source == "imported" and model.usable
        known = {p.resolve() for p, _ in core.library.candidates()}
        again = find_elsewhere(folders, known)
        assert made["hf"] not in [m.path for m in again]  # already in use
        assert starter_model.resolve() in known
    finally:
        core.close()


def test_last_used_is_kept_per_model(paths: AppPaths) -> None:
    core = open_core(paths)
    try:
        core.model_records.mark_used("/m/a.gguf", 100.0)
        core.model_records.mark_used("/m/b.gguf", 50.0)
        core.model_records.mark_used("/m/a.gguf", 200.0)
        assert core.model_records.last_used() == {"/m/a.gguf": 200.0, "/m/b.gguf": 50.0}
        core.model_records.remove("/m/a.gguf")
        assert core.model_records.last_used() == {"/m/b.gguf": 50.0}
    finally:
        core.close()


def test_a_chosen_models_folder_is_used_everywhere(
    tmp_path: Path, paths: AppPaths, starter_model: Path
) -> None:
    chosen = tmp_path / "big-disk" / "models"
    save_settings(paths.settings_file, AppSettings(models_folder=str(chosen)))
    (chosen / "owner" / "repo").mkdir(parents=True)
    shutil.copyfile(starter_model, chosen / "owner" / "repo" / "smol-Q4_1.gguf")
    core = open_core(paths)
    try:
        assert core.paths.models == chosen and core.library.models_dir == chosen
    finally:
        core.close()
    listed = run_cli(paths.data.parent, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    sources = {Path(m["path"]).name: m["source"] for m in json.loads(listed.stdout)}
    assert sources["smol-Q4_1.gguf"] == "downloaded"
    # A folder that cannot be made (a removed drive) falls back to the default one.
    blocker = tmp_path / "file"
    blocker.write_text("")
    save_settings(paths.settings_file, AppSettings(models_folder=str(blocker / "models")))
    core = open_core(paths)
    try:
        assert core.paths.models == paths.models
    finally:
        core.close()
