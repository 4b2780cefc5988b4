"""llama.cpp lives in the engine process only: the window process never maps libllama or
libggml, not after loading a model, not after opening About (which shows the backend), not
after opening the model manager (which plans GPU offload).

A CUDA or Vulkan build loaded into the window process would create a device context there
and take VRAM that the offload planner then counts as free. The check runs the real app in
a fresh process (this test process itself may have loaded llama.cpp for other tests) and
reads that process's own /proc/self/maps once all three have happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktopchat.app import run_gui
    from desktopchat.core.paths import AppPaths

    app = QApplication(sys.argv[:1])
    report = {"steps": []}
    deadline = time.monotonic() + 240

    def window():
        return next(
            (w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow"), None
        )

    def about_done(dialog):
        text = dialog.backend_label.text()
        return "backend:" in text

    state = {"about": None, "manager": None}

    def step():
        w = window()
        if time.monotonic() > deadline:
            report["error"] = "timed out at " + ",".join(report["steps"])
            finish(w)
            return
        if w is None or w.controller.loaded is None:
            QTimer.singleShot(100, step)
            return
        if state["about"] is None:
            report["steps"].append("loaded")
            state["about"] = w.show_about()
            report["steps"].append("about")
        if not about_done(state["about"]):
            QTimer.singleShot(100, step)
            return
        report["backend"] = state["about"].backend_label.text()
        if state["manager"] is None:
            state["manager"] = w.show_model_manager()
            report["steps"].append("manager")
            QTimer.singleShot(3000, step)  # let its fit display ask for the GPUs
            return
        finish(w)

    def finish(w):
        maps = Path("/proc/self/maps").read_text()
        report["mapped"] = sorted(
            {line.split()[-1] for line in maps.splitlines()
             if ("libllama" in line or "libggml" in line) and "/" in line}
        )
        report["modules"] = sorted(m for m in sys.modules if m.startswith("llama_cpp"))
        print("REPORT " + json.dumps(report), flush=True)
        if w is not None:
            w.close()
        else:
            app.quit()

    QTimer.singleShot(100, step)
    sys.exit(run_gui(AppPaths.under(Path(sys.argv[1])), sys.argv[:1], []))
    """
)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_the_window_process_never_maps_llama_cpp(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DESKTOPCHAT_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, f"the app gave no report (exit {done.returncode}): {done.stderr[-3000:]}"
    report = json.loads(lines[-1].removeprefix("REPORT "))
    assert "error" not in report, report
    assert report["steps"] == ["loaded", "about", "manager"]
    # About really showed the backend, answered by the engine process
    assert "backend: CPU" in report["backend"]
    assert report["mapped"] == [], f"llama.cpp is mapped into the window process: {report}"
    assert report["modules"] == []
