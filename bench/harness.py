"""The benchmark: ``python -m bench [--model X.gguf ...] [--rounds N] [--out FILE]``.

Every figure comes from the real parts: llama.cpp on a real GGUF, the app's worker and
engine process, a real offscreen MainWindow, a real SQLite history. Each figure is the
median of ``--rounds`` runs; ratios are taken pair by pair inside one run (raw engine,
then the app, on the same model, context, threads, prompt and token count). The harness
prints a table and writes JSON. It asserts nothing: CI runs it and reports.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication

import desktopchat
from bench import stalls
from bench.history import SEARCH_QUERIES, TOPICS, add_history, make_history
from desktopchat.app import make_chat_service, window_services
from desktopchat.core.chat import GenerationParams, Role, default_threads
from desktopchat.core.inference.engine import LoadConfig, SamplingConfig
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.service import ReplyResult
from desktopchat.core.models.library import starter_model_path
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import Core, open_core
from desktopchat.ui.application import build_window
from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.probes import StallProbe

STREAM_PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
FRESH_PROMPT = "Hello! What can you do?"
LONG_MESSAGES = 1000
# Before each first-token measurement the harness waits as a user reading the last reply
# would; the app uses that time to evaluate the opening of the next turn.
READING_PAUSE = 1.0


@dataclass
class Figures:
    """One model's results: lists of per-round samples, summarised by median."""

    model: str
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)

    def median(self, name: str) -> float | None:
        values = self.samples.get(name)
        return statistics.median(values) if values else None


class Waiter(QObject):
    """Timestamps the window's events on the GUI thread and waits without spinning."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.window = window
        self.first_text: float | None = None
        self.finished: float | None = None
        self.result: ReplyResult | None = None
        self._loop: QEventLoop | None = None
        controller = window.controller
        controller.reply_text_changed.connect(self.on_reply_text_changed)
        controller.reply_finished.connect(self.on_reply_finished)
        controller.reply_failed.connect(self.on_reply_failed)
        controller.model_state_changed.connect(self.on_model_state_changed)
        controller.title_changed.connect(self.on_title_changed)
        self.titled: set[int] = set()  # conversations the model has written a title for

    def wait(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the app did not answer in time")
            self._loop = QEventLoop()
            QTimer.singleShot(int(min(left, 1.0) * 1000), self._loop.quit)
            self._loop.exec()
        self._loop = None

    def idle(self, seconds: float) -> None:
        """Let the event loop run for ``seconds``."""
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def reset(self) -> None:
        self.first_text = self.finished = None
        self.result = None

    def _wake(self) -> None:
        if self._loop is not None:
            self._loop.quit()

    @Slot(int, int, str)
    def on_reply_text_changed(self, _conversation: int, _message: int, text: str) -> None:
        if self.first_text is None and text:
            self.first_text = time.perf_counter()
            self._wake()

    @Slot(object)
    def on_reply_finished(self, result: ReplyResult) -> None:
        self.finished = time.perf_counter()
        self.result = result
        self._wake()

    @Slot(object)
    def on_reply_failed(self, failure: object) -> None:
        raise RuntimeError(f"reply failed: {failure}")

    @Slot(object, str)
    def on_model_state_changed(self, _state: object, _detail: str) -> None:
        self._wake()

    @Slot(int, str)
    def on_title_changed(self, conversation_id: int, _title: str) -> None:
        self.titled.add(conversation_id)
        self._wake()

    def send(
        self, conversation_id: int, text: str, *, read_first: float = 0.0
    ) -> tuple[float, ReplyResult]:
        """Type ``text`` into the composer of ``conversation_id`` and press Enter, as a
        user does (after ``read_first`` seconds of reading the last reply); returns the
        seconds until the first text was in the chat view."""
        window = self.window
        if window.current_conversation != conversation_id:
            window.open_conversation(conversation_id)
            self.wait(lambda: window.current_conversation == conversation_id, 120)
            self.wait(lambda: window.database.idle, 120)
        if read_first:
            self.idle(read_first)
        self.reset()
        window.composer.setPlainText(text)
        started = time.perf_counter()
        window.on_composer_submitted()
        self.wait(lambda: self.result is not None, 600)
        assert self.first_text is not None and self.result is not None
        return self.first_text - started, self.result


def run_model(model: Path, args: argparse.Namespace, home: Path) -> Figures:
    figures = Figures(model.name)
    paths = AppPaths.under(home)
    stream = GenerationParams(
        temperature=0.0, seed=1, max_tokens=args.tokens, n_ctx=args.ctx, n_threads=args.threads
    )
    quick = stream.with_changes(max_tokens=8)
    core = open_core(paths)
    core.model_records.add(str(model), "imported")
    core.model_records.set_defaults(str(model), stream)
    history = add_history(core, args.history_exchanges, quick, "A")
    other = add_history(core, 3, quick, "B")
    window = open_window(paths)
    window.settings = window.settings.with_changes(last_model=str(model))
    waiter = Waiter(window)
    window.show()
    window.start()
    waiter.wait(lambda: window.controller.loaded is not None, 300)
    raw = LlamaEngine()
    raw.load(LoadConfig(model, args.ctx, args.threads), lambda _f, _s: None)
    try:
        measure_batch_sizes(figures, model, args, raw)
        measure_streaming(figures, waiter, raw, stream, core, args.rounds)
        measure_stalls(figures, waiter, core, stream, args.rounds)
        measure_first_tokens(figures, waiter, core, quick, history, other, args.rounds)
        measure_long_conversation(figures, waiter, core, args.rounds)
    finally:
        raw.unload()
        window.close()
        core.close()
    return figures


def open_window(paths: AppPaths) -> MainWindow:
    """The real main window, wired by the composition root as ./run.sh wires it."""
    return build_window(paths, window_services(paths))


def measure_batch_sizes(
    figures: Figures, model: Path, args: argparse.Namespace, engine: LlamaEngine
) -> None:
    """Prompt evaluation speed for each n_batch in --batch-sizes, on a
    --batch-prompt-token prompt (the app's N_BATCH is chosen from these figures)."""
    sizes = [int(n) for n in args.batch_sizes.split(",") if n.strip()]
    if not sizes:
        return
    text = " ".join(f"{topic}." for topic in TOPICS) * 100
    prompt = engine.tokenize(text, add_bos=True)[: args.batch_prompt_tokens]
    figures.notes["batch_prompt_tokens"] = len(prompt)
    for n_batch in sizes:
        sized = LlamaEngine(n_batch=n_batch)
        sized.load(LoadConfig(model, args.ctx, args.threads), lambda _f, _s: None)
        try:
            for _ in range(max(1, min(args.rounds, 3))):
                seconds = sized.benchmark_prompt(prompt)
                figures.add(BATCH_ROW[0].format(n_batch), len(prompt) / seconds)
        finally:
            sized.unload()


def measure_streaming(
    figures: Figures,
    waiter: Waiter,
    raw: LlamaEngine,
    params: GenerationParams,
    core: Core,
    rounds: int,
) -> None:
    """Pairs: the app streams a reply into the window, then the raw decode loop runs the
    same number of tokens after the same prompt."""
    sampling = SamplingConfig.from_params(params, params.seed, ())
    # The prompt the app sends, through the model's own template (planned before sending).
    raw_service = make_chat_service(core, raw)
    for _ in range(rounds):
        conv = core.conversations.create(params=params).id
        prompt = raw_service.plan(conv, STREAM_PROMPT, params).tokens
        cpu = time.process_time()
        _, result = waiter.send(conv, STREAM_PROMPT)
        cpu = time.process_time() - cpu
        assert waiter.first_text is not None and waiter.finished is not None
        first, finished = waiter.first_text, waiter.finished
        # After a first exchange the app's engine writes the chat's title: let it finish,
        # or it shares the cores with the raw decode loop below.
        with contextlib.suppress(TimeoutError):
            waiter.wait(functools.partial(waiter.titled.__contains__, conv), 20)
        decodes = result.stats.completion_tokens - 1
        app_rate = decodes / (finished - first)
        raw_rate = decodes / raw.benchmark_decode(prompt, decodes, sampling)
        figures.add("raw_tokens_per_second", raw_rate)
        figures.add("app_tokens_per_second", app_rate)
        figures.add("engine_tokens_per_second", result.stats.tokens_per_second or 0.0)
        figures.add("app_to_raw_ratio", app_rate / raw_rate)
        figures.add("reply_tokens", float(result.stats.completion_tokens))
        figures.add("app_cpu_ms_per_token", cpu * 1000 / result.stats.completion_tokens)


def measure_stalls(
    figures: Figures, waiter: Waiter, core: Core, params: GenerationParams, rounds: int
) -> None:
    probe = StallProbe(5)
    for _ in range(rounds):
        conv = core.conversations.create(params=params).id
        probe.start()
        waiter.send(conv, STREAM_PROMPT)
        figures.add("worst_gui_stall_ms", probe.stop() * 1000)


def measure_first_tokens(
    figures: Figures,
    waiter: Waiter,
    core: Core,
    params: GenerationParams,
    history: int,
    other: int,
    rounds: int,
) -> None:
    cold, result = waiter.send(history, "Which topic came first?")
    figures.notes["history_prompt_tokens"] = result.stats.prompt_tokens
    figures.add("ttft_history_cold_s", cold)
    for i in range(rounds):
        conv = core.conversations.create(params=params).id
        fresh, _ = waiter.send(conv, FRESH_PROMPT, read_first=READING_PAUSE)
        figures.add("ttft_fresh_s", fresh)
        waiter.send(history, f"Thanks. Which topic is number {i}?")  # back to the history
        follow, result = waiter.send(
            history, f"And which topic is number {i + 1}?", read_first=READING_PAUSE
        )
        figures.add("ttft_turn_n_s", follow)
        figures.add("turn_n_to_fresh_ratio", follow / fresh)
        waiter.send(other, "Say one word.")  # another conversation takes the context
        back, result = waiter.send(
            history, f"Which topic is number {i + 2}?", read_first=READING_PAUSE
        )
        figures.add("ttft_switch_back_s", back)
        figures.add("switch_back_to_fresh_ratio", back / fresh)
        figures.add("switch_back_evaluated_tokens", float(result.stats.prompt_evaluated or 0))


def measure_long_conversation(figures: Figures, waiter: Waiter, core: Core, rounds: int) -> None:
    """Open a 1,000-message conversation in the window and scroll from the bottom to the
    top and back, as fast as a wheel flick (300 px every 16 ms), with the stall probe on."""
    conv = core.conversations.create(title="Long")
    parent = None
    for i in range(LONG_MESSAGES):
        role = Role.USER if i % 2 == 0 else Role.ASSISTANT
        text = f"Message {i}. " + " ".join(TOPICS[(i * j) % len(TOPICS)] for j in range(60))
        if i % 10 == 5:
            text += "\n\n```python\nfor i in range(10):\n    print(i)\n```\n"
        parent = core.conversations.add_message(conv.id, role, text, parent_id=parent).id
    window = waiter.window
    view = window.chat_view
    bar = view.verticalScrollBar()
    probe = StallProbe(5)
    for _ in range(rounds):
        window.open_conversation(None)
        waiter.wait(lambda: window.database.idle, 120)
        probe.start()
        started = time.perf_counter()
        window.open_conversation(conv.id)  # the query runs on the database thread
        stalls.wait_for(
            lambda: window.current_conversation == conv.id and window.database.idle, 120, 0.001
        )
        figures.add("long_open_ms", (time.perf_counter() - started) * 1000)
        waiter.idle(0.05)
        figures.add("long_open_stall_ms", probe.stop() * 1000)
        probe.start()
        while view.unbuilt or bar.value() > 0:
            bar.setValue(max(bar.value() - 300, 0))
            waiter.idle(0.016)
        figures.add("long_scroll_up_stall_ms", probe.stop() * 1000)
        probe.start()
        while bar.value() < bar.maximum():
            bar.setValue(bar.value() + 300)
            waiter.idle(0.016)
        figures.add("long_scroll_down_stall_ms", probe.stop() * 1000)


def measure_history(figures: Figures, args: argparse.Namespace, home: Path) -> None:
    started = time.perf_counter()
    paths = make_history(home, args.conversations, args.messages_each)
    figures.notes["history_build_s"] = round(time.perf_counter() - started, 1)
    figures.notes["history_database_mb"] = round(paths.database.stat().st_size / 1e6, 1)
    core = open_core(paths)
    try:
        for _ in range(args.rounds):
            for query in SEARCH_QUERIES:
                for newest in (False, True):
                    t = time.perf_counter()
                    core.conversations.search(query, newest_first=newest)
                    figures.add("search_ms", (time.perf_counter() - t) * 1000)
    finally:
        core.close()
    # An installed app starts from compiled bytecode (pip and PyInstaller write it); a
    # source checkout may not have it (PYTHONDONTWRITEBYTECODE), so write it first.
    compileall.compile_dir(Path(desktopchat.__file__).parent, quiet=1)
    compileall.compile_dir(Path(__file__).parent, quiet=1)
    for crashed in (False, True):
        for _ in range(args.rounds):
            if crashed:  # the last session did not end: the integrity check runs first
                paths.session_marker.write_text("0", encoding="utf-8")
            report = start_app(home)
            name = "startup_after_crash" if crashed else "startup"
            figures.add(f"{name}_paint_s", report["painted"] - report["launched"])
            figures.add(f"{name}_responsive_s", report["responsive"] - report["launched"])
            figures.notes["llama_cpp_imported_at_paint"] = report["llama_cpp_imported"]
            figures.add(f"{name}_listed_s", report["listed"] - report["launched"])
            figures.notes["sidebar_rows"] = report.get("sidebar_rows")
    # Last: the window's engine process and threads end as it closes, and would otherwise
    # share the cores with the start-up runs above.
    measure_window_stalls(figures, home, paths, args.rounds)


def measure_window_stalls(figures: Figures, home: Path, paths: AppPaths, rounds: int) -> None:
    """The window on the whole history: typing a search, a 10 MB paste, the CLI writing
    into the same database (see bench/stalls.py)."""
    window = open_window(paths)
    window.show()
    window.start()
    waiter = Waiter(window)
    waiter.wait(lambda: window.controller.loaded is not None, 300)
    waiter.idle(2.0)  # the start-up work (maintenance, model headers) is done
    try:
        for _ in range(rounds):
            figures.add("stall_search_typing_ms", stalls.typing_a_search(window) * 1000)
            figures.add("stall_paste_ms", stalls.pasting(window) * 1000)
            figures.add("stall_cli_writes_ms", stalls.cli_writing(window, home) * 1000)
    finally:
        window.close()


def start_app(home: Path) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    launched = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "bench.startup_probe", str(home)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the app did not start: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    report["launched"] = launched
    return report


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        memory = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / (1 << 30), 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "llama_cpp_python": metadata.version("llama-cpp-python"),
        "pyside6": metadata.version("PySide6-Essentials"),
    }


ROWS = [
    ("raw_tokens_per_second", "Raw engine decode", "tok/s", "{:.1f}"),
    ("engine_tokens_per_second", "Engine in its process", "tok/s", "{:.1f}"),
    ("app_tokens_per_second", "App, into the chat view", "tok/s", "{:.1f}"),
    ("app_to_raw_ratio", "App / raw (pairwise)", "", "{:.3f}"),
    ("app_cpu_ms_per_token", "App process CPU per token", "ms", "{:.2f}"),
    ("worst_gui_stall_ms", "Worst GUI stall while streaming", "ms", "{:.0f}"),
    ("ttft_fresh_s", "First token, fresh chat", "s", "{:.3f}"),
    ("ttft_history_cold_s", "First token, history not cached", "s", "{:.2f}"),
    ("ttft_turn_n_s", "First token, turn N (history)", "s", "{:.3f}"),
    ("turn_n_to_fresh_ratio", "Turn N / fresh (pairwise)", "", "{:.2f}"),
    ("ttft_switch_back_s", "First token, switching back", "s", "{:.3f}"),
    ("switch_back_to_fresh_ratio", "Switch back / fresh (pairwise)", "", "{:.2f}"),
    ("long_open_ms", "Open a 1,000-message chat", "ms", "{:.0f}"),
    ("long_open_stall_ms", "  worst GUI stall while opening", "ms", "{:.0f}"),
    ("long_scroll_up_stall_ms", "  worst stall scrolling to the top", "ms", "{:.0f}"),
    ("long_scroll_down_stall_ms", "  worst stall scrolling back down", "ms", "{:.0f}"),
    ("startup_paint_s", "Startup to first paint", "s", "{:.2f}"),
    ("startup_responsive_s", "Startup to responsive", "s", "{:.2f}"),
    ("startup_listed_s", "Startup to the chats listed", "s", "{:.2f}"),
    ("startup_after_crash_paint_s", "Startup after a crash (checked)", "s", "{:.2f}"),
    ("search_ms", "Full-text search", "ms", "{:.1f}"),
    ("stall_search_typing_ms", "Worst GUI stall typing a search", "ms", "{:.0f}"),
    ("stall_paste_ms", "Worst GUI stall pasting 10 MB", "ms", "{:.0f}"),
    ("stall_cli_writes_ms", "Worst GUI stall, CLI writing beside", "ms", "{:.0f}"),
]


BATCH_ROW = (
    "prompt_tokens_per_second_batch_{}",
    "Prompt evaluation, n_batch {}",
    "tok/s",
    "{{:.0f}}",
)


def rows(figures: Figures) -> list[tuple[str, str, str, str]]:
    """ROWS, then one row per n_batch measured."""
    key, label, unit, fmt = BATCH_ROW
    prefix = key.format("")
    sizes = sorted(int(k.removeprefix(prefix)) for k in figures.samples if k.startswith(prefix))
    return ROWS + [(key.format(n), label.format(n), unit, fmt.format()) for n in sizes]


def table(results: list[Figures]) -> str:
    lines = []
    for figures in results:
        lines.append(f"\n{figures.model}")
        for key, label, unit, fmt in rows(figures):
            values = figures.samples.get(key)
            if not values:
                continue
            median = fmt.format(statistics.median(values))
            spread = f"{fmt.format(min(values))}–{fmt.format(max(values))}"
            lines.append(f"  {label:<34} {median:>9} {unit:<6} (n={len(values)}, {spread})")
        for key, value in figures.notes.items():
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model", action="append", type=Path, default=[], help="a GGUF file")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=300, help="reply length to stream")
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--history-exchanges", type=int, default=41, help="~75 tokens each")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages-each", type=int, default=20)
    parser.add_argument("--skip-history", action="store_true", help="no startup/search runs")
    parser.add_argument(
        "--batch-sizes", default="128,256,512,1024", help="n_batch values to compare ('': none)"
    )
    parser.add_argument("--batch-prompt-tokens", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    args = parser.parse_args(argv)
    starter = starter_model_path()
    models = ([starter] if starter is not None else []) + args.model
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert app is not None
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="desktopchat-bench-") as temp:
        for index, model in enumerate(models):
            print(f"streaming and first-token runs on {model.name}…", file=sys.stderr)
            results.append(run_model(model, args, Path(temp) / f"chat-{index}"))
        if not args.skip_history:
            print(
                f"history of {args.conversations:,} conversations × {args.messages_each}…",
                file=sys.stderr,
            )
            history = Figures(f"history: {args.conversations:,} conversations")
            measure_history(history, args, Path(temp) / "history")
            results.append(history)
    info = machine()
    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": info,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "results": [
            {
                "model": f.model,
                "median": {k: f.median(k) for k in f.samples},
                "samples": f.samples,
                "notes": f.notes,
            }
            for f in results
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"DesktopChat benchmark, {report['when']}: {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gib']} GiB, {info['os']}, llama-cpp-python {info['llama_cpp_python']}"
    )
    print(table(results))
    print(f"\nJSON: {args.out}")
    return 0
