"""Command line: ``desktopchat`` opens the window; subcommands work headless on the same core.

Expected failures print one line on stderr and exit non-zero; tracebacks go to the log.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from desktopchat import __version__, app
from desktopchat.core import exchange, network
from desktopchat.core.chat import GenerationParams
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.inference.engine import LoadConfig
from desktopchat.core.inference.service import ReplyStarted
from desktopchat.core.models.library import (
    InstalledModel,
    default_params,
    human_size,
    starter_model_path,
)
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import SecretStore
from desktopchat.core.session import open_core
from desktopchat.core.settings import AppSettings, load_settings
from desktopchat.core.storage.repositories import SNIPPET_MARKS

log = logging.getLogger("desktopchat.cli")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
VALUE_OPTIONS = ("--home", "--self-test")  # global options followed by a value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktopchat",
        description="Private, offline chat with local GGUF models. Without a command, "
        "opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"DesktopChat {__version__}")
    parser.add_argument("--home", help="keep every folder (data, models, logs) under DIR")
    parser.add_argument("--verbose", action="store_true", help="detailed log file")
    parser.add_argument(
        "--self-test",
        metavar="PNG",
        help="open the window, load the model, save a picture of the window and quit "
        "(checks an installation)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = commands.add_parser("chat", help="send one message and stream the reply")
    chat.add_argument("prompt", help="the message to send")
    chat.add_argument("--model", help="installed model name, or a path to a GGUF file")
    chat.add_argument("--conversation", type=int, help="continue this conversation id")
    chat.add_argument("--system", help="system prompt (stored with the conversation)")
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--max-tokens", type=int)
    chat.add_argument("--seed", type=int)
    chat.add_argument("--context", type=int, help="context length in tokens")
    chat.add_argument("--threads", type=int, help="CPU threads (0: automatic)")
    chat.add_argument("--json", action="store_true", help="print one JSON object at the end")

    conversations = commands.add_parser("conversations", help="list or show conversations")
    conv_commands = conversations.add_subparsers(dest="action", required=True)
    conv_list = conv_commands.add_parser("list")
    conv_list.add_argument("--json", action="store_true")
    conv_show = conv_commands.add_parser("show")
    conv_show.add_argument("id", type=int)
    conv_show.add_argument("--json", action="store_true")

    export = commands.add_parser("export", help="save conversations as Markdown, HTML or JSON")
    export.add_argument("out", help="the file to write")
    export.add_argument("--conversation", type=int, help="only this conversation id")
    export.add_argument("--format", choices=["md", "html", "json"], required=True)
    import_ = commands.add_parser(
        "import", help="add conversations from our JSON export or a ChatGPT conversations.json"
    )
    import_.add_argument("file")
    search_chats = commands.add_parser("search", help="search every conversation's messages")
    search_chats.add_argument("query")
    search_chats.add_argument("--best", action="store_true", help="best match first")
    search_chats.add_argument("--limit", type=int, default=50)
    search_chats.add_argument("--json", action="store_true")

    models = commands.add_parser("models", help="list or import models")
    model_commands = models.add_subparsers(dest="action", required=True)
    model_list = model_commands.add_parser("list")
    model_list.add_argument("--json", action="store_true")
    model_import = model_commands.add_parser("import")
    model_import.add_argument("path")
    model_import.add_argument(
        "--copy", action="store_true", help="copy into the models folder instead of linking"
    )
    search = model_commands.add_parser("search", help="search the Hugging Face Hub for GGUF models")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--sort", choices=["downloads", "likes", "recent"], default="downloads")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--json", action="store_true")
    files = model_commands.add_parser(
        "files", help="every GGUF file of a Hub repository, its size and whether it fits here"
    )
    files.add_argument("repo", help="owner/name")
    files.add_argument("--context", type=int, default=4096, help="context length to plan for")
    files.add_argument("--json", action="store_true")
    download = model_commands.add_parser(
        "download", help="download a GGUF file (running it again continues an interrupted one)"
    )
    download.add_argument("repo", help="owner/name")
    download.add_argument("file", help="the file's name in the repository, as `files` lists it")
    remove = model_commands.add_parser("remove", help="delete a downloaded model (or forget one)")
    remove.add_argument("name")
    about = commands.add_parser(
        "about", help="version, engine backend, keychain, folders, and the licences"
    )
    about.add_argument("--json", action="store_true")
    about.add_argument("--licences", action="store_true", help="print every licence text")
    token = commands.add_parser("token", help="the Hugging Face token, kept in the OS keychain")
    token.add_argument(
        "action",
        choices=["set", "status", "clear"],
        help="set (reads the token from stdin), status, clear",
    )
    commands.add_parser(  # its options are python -m bench's, passed through
        "bench",
        help="measure speed (from a source checkout; same as python -m bench)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv, files = split_files(sys.argv[1:] if argv is None else list(argv))
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    network.install()  # every connection from here on is recorded, and explained or flagged
    paths = AppPaths.resolve(args.home)
    try:
        paths.ensure()
        app.configure_logging(paths, verbose=args.verbose)
    except OSError as exc:
        print(f"desktopchat: cannot use the folder {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_ERROR
    if args.command is None:
        self_test = Path(args.self_test).resolve() if args.self_test else None
        return app.run_gui(paths, sys.argv[:1], files, self_test)
    if args.command == "bench":
        return _bench(extra)
    try:
        return _run_command(args, paths)
    except DesktopChatError as exc:
        log.info("command failed: %s", exc)
        print(f"desktopchat: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("desktopchat: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        log.exception("unexpected error")
        print(
            f"desktopchat: internal error ({type(exc).__name__}); details are in "
            f"{paths.logs / 'desktopchat.log'}",
            file=sys.stderr,
        )
        return EXIT_ERROR


def split_files(argv: list[str]) -> tuple[list[str], list[str]]:
    """The arguments, and the .gguf files among them to open in the window (the file
    manager starts ``desktopchat MODEL.gguf`` for a double-clicked model). Only when
    every positional argument is one: ``models import X.gguf`` is a command."""
    positional = [
        a
        for i, a in enumerate(argv)
        if not a.startswith("-") and (i == 0 or argv[i - 1] not in VALUE_OPTIONS)
    ]
    if not positional or not all(a.lower().endswith(".gguf") for a in positional):
        return argv, []
    return [a for a in argv if a not in positional], positional


def _run_command(args: argparse.Namespace, paths: AppPaths) -> int:
    core = open_core(paths)
    try:
        if args.command == "chat":
            return _chat(args, core)
        if args.command == "conversations":
            return _conversations(args, core)
        if args.command == "about":
            return _about(args, core)
        if args.command == "token":
            return _token(args.action)
        if args.command in ("export", "import", "search"):
            return _exchange(args, core)
        if args.action in ("search", "files", "download", "remove"):
            return _manage(args, core, load_settings(paths.settings_file))
        return _models(args, core)
    finally:
        core.close()


def _bench(argv: list[str]) -> int:
    """The benchmark lives beside the package in a source checkout (``bench/``)."""
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "bench" / "harness.py").is_file():
        print(
            "desktopchat: the benchmark runs from a source checkout (python -m bench); "
            "this installation does not include it",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    harness = importlib.import_module("bench.harness")
    result: int = harness.main(argv)
    return result


def _emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _chat(args: argparse.Namespace, core: Any) -> int:
    conversations = core.conversations
    model: InstalledModel = core.library.find(args.model)
    if model.info is None:
        raise DesktopChatError(model.problem)
    if args.conversation is not None:
        conversation = conversations.get(args.conversation)
        params = conversation.params
    else:
        params = default_params(model, core.model_records)
        conversation = None
    changes: dict[str, Any] = {}
    for name, field in (
        ("system", "system_prompt"),
        ("temperature", "temperature"),
        ("max_tokens", "max_tokens"),
        ("seed", "seed"),
        ("context", "n_ctx"),
        ("threads", "n_threads"),
    ):
        value = getattr(args, name)
        if value is not None:
            changes[field] = value
    try:
        params = params.with_changes(**changes).validated()
    except ValueError as exc:
        raise DesktopChatError(f"Invalid setting: {exc}.") from None
    if not args.prompt.strip():
        raise DesktopChatError("The message is empty. Type something to send.")

    engine = app.make_engine()
    loaded = engine.load(LoadConfig.from_params(model.path, params), lambda _f, _s: None)
    if loaded.n_ctx < params.n_ctx:
        print(
            f"note: context capped at {loaded.n_ctx:,} tokens, the most this model was trained for",
            file=sys.stderr,
        )
    service = app.make_chat_service(core, engine)
    if conversation is None:
        conversation = conversations.create(params=params, model_path=str(model.path))
    elif changes:
        conversations.set_params(conversation.id, params)

    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    printer = _StreamPrinter(quiet=args.json)
    try:
        result = service.reply(conversation.id, args.prompt, params, cancel, printer)
    finally:
        signal.signal(signal.SIGINT, previous)
        engine.unload()
    if args.json:
        _emit_json(
            {
                "conversation_id": result.conversation_id,
                "user_message_id": result.user_message_id,
                "assistant_message_id": result.assistant_message_id,
                "model": model.name,
                "reply": result.text,
                "finish_reason": result.finish_reason.value,
                "status": result.status.value,
                "time_to_first_token": result.stats.time_to_first_token,
                "tokens_per_second": result.stats.tokens_per_second,
                "prompt_tokens": result.stats.prompt_tokens,
                "completion_tokens": result.stats.completion_tokens,
                "dropped_messages": result.stats.dropped_messages,
                "seed": result.stats.seed,
            }
        )
    else:
        sys.stdout.write("\n")
        sys.stdout.flush()
        if printer.notice:
            print(printer.notice, file=sys.stderr)
    return EXIT_INTERRUPTED if cancel.is_set() else 0


class _StreamPrinter:
    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.notice = ""
        self.progress_shown = False

    def on_reply_started(self, started: ReplyStarted) -> None:
        if started.dropped_messages:
            self.notice = (
                f"note: the {started.dropped_messages} oldest messages did not fit the "
                f"{started.context_size}-token context and were left out of the prompt"
            )
        elif started.summarized_messages:
            self.notice = (
                f"note: the {started.summarized_messages} oldest messages are in the prompt "
                "as a summary written by the model"
            )

    def on_status(self, text: str) -> None:
        sys.stderr.write(f"{text}\n")

    def on_reply_piece(self, text: str) -> None:
        if self.progress_shown:
            sys.stderr.write("\r\033[K")
            self.progress_shown = False
        if not self.quiet:
            sys.stdout.write(text)
            sys.stdout.flush()

    def on_prompt_progress(self, done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rReading the prompt: {done:,} of {total:,} tokens")
            sys.stderr.flush()
            self.progress_shown = True


def _conversations(args: argparse.Namespace, core: Any) -> int:
    repo = core.conversations
    if args.action == "list":
        items = repo.summaries()
        if args.json:
            _emit_json([asdict(item) for item in items])
        else:
            for item in items:
                stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.updated_at))
                print(f"{item.id:>6}  {stamp}  {item.message_count:>4} msgs  {item.title}")
        return 0
    conversation = repo.get(args.id)
    messages = repo.active_path(args.id)
    if args.json:
        _emit_json(
            {
                "id": conversation.id,
                "title": conversation.title,
                "model_path": conversation.model_path,
                "params": asdict(conversation.params),
                "messages": [exchange.message_json(m) for m in messages],
            }
        )
        return 0
    print(f"# {conversation.title}  (conversation {conversation.id})")
    for message in messages:
        marker = "" if message.status.value == "complete" else f" [{message.status.value}]"
        print(f"\n{message.role.value}{marker}:\n{message.content}")
    return 0


def _exchange(args: argparse.Namespace, core: Any) -> int:
    """export, import and search: conversations in and out of the database."""
    repo = core.conversations
    if args.command == "search":
        hits = repo.search(args.query, newest_first=not args.best, limit=args.limit)
        start, end = SNIPPET_MARKS
        if args.json:
            _emit_json(
                [
                    {
                        "conversation_id": h.conversation_id,
                        "message_id": h.message_id,
                        "title": h.title,
                        "role": h.role.value,
                        "snippet": h.snippet.replace(start, "").replace(end, ""),
                        "created_at": h.created_at,
                    }
                    for h in hits
                ]
            )
            return 0
        for hit in hits:
            snippet = hit.snippet.replace(start, "**").replace(end, "**")
            print(f"[{hit.conversation_id}] {hit.title} ({hit.role.value}): {snippet}")
        return 0
    if args.command == "import":
        ids, count = exchange.import_file(repo, Path(args.file))
        print(f"Imported {len(ids)} conversations ({count} messages).")
        return 0
    wanted = [args.conversation] if args.conversation else None
    written = exchange.export_file(repo, wanted, args.format, Path(args.out))
    print(f"Exported {written} conversations to {args.out}.")
    return 0


def _about(args: argparse.Namespace, core: Any) -> int:
    from desktopchat.core import notices
    from desktopchat.core.inference.llama_engine import backend_info, engine_version

    if args.licences:
        print(notices.notices_text(), end="")
        return 0
    info = backend_info()
    keychain = SecretStore().status()
    starter = starter_model_path()
    facts = {
        "version": __version__,
        "python": sys.version.split()[0],
        "engine": f"llama-cpp-python {engine_version()}",
        "backend": info.summary(),
        "backends": list(info.backends),
        "gpus": list(info.gpus),
        "keychain": asdict(keychain),
        "starter_model": str(starter) if starter is not None else None,
        "folders": {k: str(v) for k, v in asdict(core.paths).items()},
        "components": [
            {"name": c.name, "version": c.version, "licence": c.licence}
            for c in notices.components()
        ],
    }
    if args.json:
        _emit_json(facts)
        return 0
    print(f"DesktopChat {__version__} (Python {facts['python']}, {facts['engine']})")
    print(f"Backend: {facts['backend']}")
    where = keychain.backend if keychain.available else f"none ({keychain.reason})"
    print(f"Keychain: {where}")
    print(f"Starter model: {facts['starter_model'] or 'not installed'}")
    for name, folder in asdict(core.paths).items():
        print(f"{name.capitalize()}: {folder}")
    print("Licences of its components: desktopchat about --licences")
    return 0


def _token(action: str) -> int:
    from desktopchat.core.models.manager import make_hub  # the Hub client: only when used

    store = SecretStore()
    if action == "set":
        if sys.stdin.isatty():
            print("Paste the Hugging Face token and press Enter:", file=sys.stderr)
        value = sys.stdin.readline().strip()
        if not value:
            raise DesktopChatError("No token was given on standard input.")
        status = store.status()
        if not status.available:
            raise DesktopChatError(
                f"No keychain is available ({status.reason}), and DesktopChat never stores "
                "the token in a file. In the window, the token can be kept for one session."
            )
        store.set(value)
        print(f"The token is stored in {status.backend}.")
        try:
            print(f"Signed in as {make_hub(store, offline=False).whoami()}.")
        except DesktopChatError as exc:
            print(f"It could not be checked: {exc}", file=sys.stderr)
        return 0
    if action == "clear":
        store.delete()
        print("The token was removed from the keychain.")
        return 0
    if store.get() is None:
        print("No Hugging Face token is set (public models need none).")
        return 0
    print(f"Signed in as {make_hub(store, offline=False).whoami()}.")
    return 0


def _manage(args: argparse.Namespace, core: Any, settings: AppSettings) -> int:
    """The model manager's Hub commands (search, files, download) and remove."""
    # Imported here: huggingface_hub is loaded only when the model manager is used.
    from desktopchat.core.models.manager import check_remote, make_hub, remove_model

    if args.action == "remove":
        model = core.library.find(args.name)
        removed = remove_model(model, core.paths.models, core.model_records)
        if removed.freed:
            print(f"Deleted {removed.path} ({human_size(removed.freed)} freed).")
        else:
            print(f"Forgot {removed.path}; the file itself was left where it is.")
        return 0
    hub = make_hub(SecretStore(), offline=settings.offline_mode)
    if args.action == "search":
        found = hub.search(args.query, sort=args.sort, limit=args.limit)
        if args.json:
            _emit_json([asdict(r) for r in found])
        for r in [] if args.json else found:
            gated = "  [gated]" if r.gated else ""
            print(f"{r.repo_id}  ({r.downloads:,} downloads, {r.likes:,} likes){gated}")
        return 0
    listing = hub.files(args.repo)
    devices = _gpu_devices()
    if args.action == "download":
        model = listing.find(args.file)
        check = check_remote(hub, listing, model, GenerationParams().n_ctx, devices)
        if check.warning:
            print(f"Warning: {check.warning}", file=sys.stderr)
        return _download(core, hub, listing, model)
    rows = [
        (model, check_remote(hub, listing, model, args.context, devices))
        for model in listing.models()
    ]
    if args.json:
        _emit_json(
            [
                {
                    "name": m.name,
                    "label": m.label,
                    "parts": [p.name for p in m.parts],
                    "size_bytes": m.size,
                    "quantization": m.quantization,
                    "sha256": [p.sha256 for p in m.parts],
                    "fits": check.fit.fits,
                    "fit": check.fit.text,
                    "n_gpu_layers": check.fit.plan.n_gpu_layers,
                    "needed_bytes": check.fit.needed.total,
                    "estimated_from_size": check.fit.from_size_only,
                    "architecture": check.architecture or None,
                    "architecture_warning": check.warning or None,
                }
                for m, check in rows
            ]
        )
        return 0
    gated = "  (gated: accept the licence on its page and set a token)" if listing.gated else ""
    print(f"{listing.repo_id} at {listing.revision[:12]}{gated}")
    for model, check in rows:
        print(f"  {model.label}  {model.quantization or '?'}  {human_size(model.size)}")
        print(f"      {check.text}")
    return 0


def _gpu_devices() -> list[Any]:
    from desktopchat.core.inference.llama_engine import gpu_devices

    return gpu_devices()


def _download(core: Any, hub: Any, listing: Any, model: Any) -> int:
    from desktopchat.core.models.downloads import Progress
    from desktopchat.core.models.manager import downloader

    stop = threading.Event()
    shown = [0.0]

    def report(progress: Progress) -> None:
        now = time.monotonic()
        if now - shown[0] < 0.5 and progress.done < progress.total:
            return
        shown[0] = now
        left = progress.seconds_left
        eta = f", {left:,.0f} s left" if left is not None else ""
        print(
            f"\r{progress.done * 100 // max(progress.total, 1):3d}%  "
            f"{human_size(progress.done)} of {human_size(progress.total)}, "
            f"{human_size(int(progress.bytes_per_second))}/s{eta}   ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        path = downloader(core.paths, hub).download(
            listing.repo_id, listing.revision, model, report, stop
        )
    except KeyboardInterrupt:
        print("\nPaused: run the same command again to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(file=sys.stderr)
    print(f"Downloaded and verified {model.label}\n  {path}")
    return 0


def _models(args: argparse.Namespace, core: Any) -> int:
    library = core.library
    if args.action == "import":
        model = library.import_file(Path(args.path), copy=args.copy)
        print(f"imported {model.label()}\n  {model.path}")
        if model.warning:
            print(f"Warning: {model.warning}", file=sys.stderr)
        return 0
    models = library.scan()
    if args.json:
        _emit_json(
            [
                {
                    "name": m.name,
                    "path": str(m.path),
                    "source": m.source,
                    "usable": m.usable,
                    "problem": m.problem,
                    "architecture": m.info.architecture if m.info else None,
                    "quantization": m.info.quantization if m.info else None,
                    "parameters": m.info.parameter_count if m.info else None,
                    "context_length": m.info.context_length if m.info else None,
                    "chat_template": bool(m.info and m.info.chat_template),
                    "size_bytes": m.size_bytes,
                }
                for m in models
            ]
        )
        return 0
    for m in models:
        if m.info is None:
            print(f"[unusable] {m.path}: {m.problem}")
            continue
        template = "chat template" if m.info.chat_template else "no chat template"
        print(
            f"{m.name}  ({m.source})\n  {m.info.architecture}, {m.info.parameter_count / 1e6:.0f}M "
            f"parameters, {m.info.quantization}, {human_size(m.size_bytes)}, "
            f"context {m.info.context_length:,}, {template}\n  {m.path}"
        )
    return 0
