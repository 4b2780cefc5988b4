"""Command line: ``desktopchat`` opens the window; subcommands work headless on the same core.

This module starts a run (logging, folders, the window or a command) and sends each
command to its module: chat, conversations (with search, export and import), models
(with the Hub and the token), docs (the document collections), about. The grammar is
in parser.py, printing in output.py.
Expected failures print one line on stderr and exit non-zero; tracebacks go to the log.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from desktopchat import app
from desktopchat.cli import about, chat, conversations, documents, models, tools
from desktopchat.cli.output import EXIT_ERROR, EXIT_INTERRUPTED, note
from desktopchat.cli.parser import build_parser, split_files
from desktopchat.core import network
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core

__all__ = ["build_parser", "main", "split_files"]

log = logging.getLogger("desktopchat.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments, files = split_files(sys.argv[1:] if argv is None else list(argv))
    args, extra = parser.parse_known_args(arguments)
    if extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    network.install()  # every connection from here on is recorded, and explained or flagged
    paths = AppPaths.resolve(args.home)
    try:
        paths.ensure()
        app.configure_logging(paths, verbose=args.verbose)
    except OSError as exc:
        note(f"desktopchat: cannot use the folder {exc.filename}: {exc.strerror}")
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
        note(f"desktopchat: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        note("desktopchat: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        log.exception("unexpected error")
        note(
            f"desktopchat: internal error ({type(exc).__name__}); details are in "
            f"{paths.logs / 'desktopchat.log'}"
        )
        return EXIT_ERROR


def _run_command(args: argparse.Namespace, paths: AppPaths) -> int:
    if args.command == "token":
        return models.token(args)
    if args.command == "docs":
        return documents.docs(args, lambda: app.make_cli_document_library(paths), paths)
    if args.command == "mcp":
        return tools.mcp(args, paths)
    core = open_core(paths)
    try:
        if args.command == "tools":
            return tools.tools(args, core)
        if args.command == "chat":
            return chat.chat(args, core, lambda: app.make_cli_document_library(paths))
        if args.command == "conversations":
            return conversations.conversations(args, core)
        if args.command == "search":
            return conversations.search(args, core)
        if args.command == "import":
            return conversations.import_(args, core)
        if args.command == "export":
            return conversations.export(args, core)
        if args.command == "about":
            return about.about(args, core)
        return models.models(args, core)
    finally:
        core.close()


def _bench(argv: list[str]) -> int:
    """The benchmark lives beside the package in a source checkout (``bench/``)."""
    checkout = Path(__file__).resolve().parent.parent.parent
    if not (checkout / "bench" / "harness.py").is_file():
        note(
            "desktopchat: the benchmark runs from a source checkout (python -m bench); "
            "this installation does not include it"
        )
        return EXIT_ERROR
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    harness = importlib.import_module("bench.harness")
    result: int = harness.main(argv)
    return result
