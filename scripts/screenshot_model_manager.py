"""Save docs/model-manager.png: the model manager's Files tab for a repository served by
the tests' local Hub (127.0.0.1, the real starter model), as the README shows it.

Run from the repository root: .venv/bin/python scripts/screenshot_model_manager.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["QT_QPA_PLATFORM"] = "offscreen"
home = Path(tempfile.mkdtemp(prefix="desktopchat-shot-"))
os.environ["DESKTOPCHAT_HOME"] = str(home / "app")
os.environ["HOME"] = str(home / "user")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktopchat import app as composition  # noqa: E402
from desktopchat.core.models.catalog import load_catalog  # noqa: E402
from desktopchat.core.models.library import starter_model_path  # noqa: E402
from desktopchat.core.paths import AppPaths  # noqa: E402
from desktopchat.ui.application import build_window  # noqa: E402
from tests.hub_server import HostedFile, HostedRepo, HubState, serve_hub  # noqa: E402


def wait(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main() -> None:
    application = QApplication([])
    starter = starter_model_path()
    assert starter is not None, "the starter model is not installed"
    entry = load_catalog()[1]
    state = HubState()
    state.add(
        HostedRepo(
            entry.repo,
            [
                HostedFile("smollm2-360m-instruct-q4_k_m.gguf", starter),
                HostedFile("smollm2-360m-instruct-q8_0.gguf", starter),
            ],
        )
    )
    with serve_hub(state) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        paths = AppPaths.resolve(None)
        window = build_window(paths, composition.window_services(paths))
        window.show()
        window.start()
        dialog = window.show_model_manager()
        dialog.resize(1000, 420)
        dialog.open_repo(entry.repo, prefer=entry.quantization)
        wait(4)
        target = ROOT / "docs" / "model-manager.png"
        dialog.grab().save(str(target))
        print(f"saved {target}")
        window.close()
    application.quit()


if __name__ == "__main__":
    main()
