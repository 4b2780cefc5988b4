"""Save docs/main-light.png and docs/main-dark.png: the main window on the real starter
model, light and dark, with a branched conversation (a regenerated answer: "‹ 2/2 ›").

Run from the repository root: .venv/bin/python docs/screenshots.py
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

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktopchat import app as composition  # noqa: E402
from desktopchat.core.chat import GenerationParams  # noqa: E402
from desktopchat.core.paths import AppPaths  # noqa: E402
from desktopchat.ui.application import build_window  # noqa: E402
from desktopchat.ui.controllers import ModelState  # noqa: E402
from desktopchat.ui.main_window import MainWindow  # noqa: E402


def wait_until(done: object, seconds: float = 600) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(lambda: loop.quit() if done() else None)  # type: ignore[operator]
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start()
    loop.exec()


def reply(window: MainWindow, start: object) -> None:
    finished: list[object] = []
    window.controller.reply_finished.connect(finished.append)
    start()  # type: ignore[operator]
    wait_until(lambda: bool(finished))
    window.controller.reply_finished.disconnect(finished.append)


def main() -> None:
    application = QApplication([])
    paths = AppPaths.resolve(None)
    window = build_window(paths, composition.window_services(paths))
    window.resize(1280, 800)
    window.show()
    window.start()
    wait_until(lambda: window.controller.state is ModelState.READY)
    params = GenerationParams(
        n_ctx=2048, max_tokens=160, temperature=0.0, seed=3, system_prompt="Be concise."
    )
    window.settings_panel.set_params(params)
    window.composer.setPlainText("Write a Python function that reverses a string, with a test.")
    reply(window, window.on_composer_submitted)
    window.settings_panel.set_params(params.with_changes(temperature=0.8, seed=11))
    reply(window, window.regenerate_last)  # a second version: the answer shows ‹ 2/2 ›
    wait_until(lambda: False, 2.5)  # the automatic title
    window.composer.setPlainText("Now make it handle None.")
    for name in ("light", "dark"):
        window.set_theme(name)
        wait_until(lambda: False, 0.5)
        target = ROOT / "docs" / f"main-{name}.png"
        window.grab().save(str(target))
        print(f"saved {target}")
    window.set_theme("system")
    window.close()
    application.quit()


if __name__ == "__main__":
    main()
