"""The command line's grammar: every command, option and help text (argparse), and how
``desktopchat MODEL.gguf`` (a double-clicked model) is told apart from a command."""

from __future__ import annotations

import argparse
from typing import NoReturn, TypeAlias

from desktopchat import __version__
from desktopchat.cli.output import EXIT_USAGE

VALUE_OPTIONS = ("--home", "--self-test")  # global options followed by a value


# chat's numeric settings: option, type, help
NUMBER_OPTIONS: tuple[tuple[str, type[int] | type[float], str], ...] = (
    ("--temperature", float, "randomness, 0 to 5"),
    ("--top-k", int, "sample among the k likeliest tokens (0: off)"),
    ("--top-p", float, "sample among tokens covering this probability mass, 0 to 1"),
    ("--min-p", float, "drop tokens less likely than this share of the best, 0 to 1"),
    ("--repeat-penalty", float, "discourage repeating recent tokens, above 0, at most 5"),
    ("--max-tokens", int, "longest reply in tokens"),
    ("--seed", int, "fixed seed for repeatable replies (-1: random)"),
    ("--context", int, "context length in tokens"),
    ("--threads", int, "CPU threads (0: automatic)"),
    ("--gpu-layers", int, "layers on the GPU (-2: planned from free memory, -1: all, 0: none)"),
)


class CommandLineParser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, like every other failure (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"desktopchat: {message} (see {self.prog} --help)\n")


Commands: TypeAlias = "argparse._SubParsersAction[CommandLineParser]"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
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
    _add_chat(commands)
    _add_conversations(commands)
    _add_models(commands)
    _add_documents(commands)
    _add_tools(commands)
    about = commands.add_parser(
        "about", help="version, engine backend, keychain, folders, and the licences"
    )
    about.add_argument("--json", action="store_true")
    about.add_argument("--licences", action="store_true", help="print every licence text")
    commands.add_parser(  # its options are python -m bench's, passed through
        "bench",
        help="measure speed (from a source checkout; same as python -m bench)",
        add_help=False,
    )
    return parser


def _add_chat(commands: Commands) -> None:
    chat = commands.add_parser(
        "chat",
        help="send one message and stream the reply",
        description="Send one message and stream the reply. A new conversation starts with "
        "the model's defaults (or --preset) and keeps the settings given here; a continued "
        "one answers with the model it used and its own settings, changed by those given.",
    )
    chat.add_argument("prompt", help="the message to send; - reads it from standard input")
    chat.add_argument("--model", help="installed model name, or a path to a GGUF file")
    chat.add_argument("--conversation", type=int, help="continue this conversation id")
    chat.add_argument("--json", action="store_true", help="print one JSON object at the end")
    settings = chat.add_argument_group(
        "chat settings", "the window's per-chat settings; given ones override --preset"
    )
    documents = settings.add_mutually_exclusive_group()
    documents.add_argument(
        "--docs",
        metavar="NAME",
        action="append",
        help="answer from this document collection, citing its passages (repeat for more); "
        "the conversation keeps it attached",
    )
    documents.add_argument(
        "--no-docs",
        action="store_true",
        help="detach the conversation's document collections and files",
    )
    settings.add_argument(
        "--doc-file",
        metavar="PATH",
        action="append",
        help="answer from this file (repeat for more; the whole text when it fits, as for "
        "'summarize this'): it is indexed into the Attached files collection first, and "
        "the conversation keeps it attached beside any --docs collections",
    )
    settings.add_argument(
        "--preset", metavar="NAME", help="start from a preset (a shipped or a saved one)"
    )
    system = settings.add_mutually_exclusive_group()
    system.add_argument("--system", metavar="TEXT", help="system prompt")
    system.add_argument("--system-file", metavar="FILE", help="system prompt read from FILE")
    settings.add_argument(
        "--examples-file",
        metavar="FILE",
        help="few-shot examples: lines starting User: and Assistant:",
    )
    for option, kind, help_text in NUMBER_OPTIONS:
        metavar = "N" if kind is int else "X"
        settings.add_argument(option, type=kind, metavar=metavar, help=help_text)
    settings.add_argument(
        "--flash-attn", action=argparse.BooleanOptionalAction, help="flash attention"
    )
    settings.add_argument(
        "--kv-cache", metavar="TYPE", help="KV cache type: f16, q8_0 or q4_0 (needs flash-attn)"
    )
    settings.add_argument(
        "--overflow", metavar="POLICY", help="when the history is too long: stop, drop, summarize"
    )
    settings.add_argument(
        "--json-mode",
        action=argparse.BooleanOptionalAction,
        help="constrain the reply to JSON",
    )
    settings.add_argument(
        "--json-schema", metavar="FILE", help="constrain the reply to this JSON Schema"
    )
    _add_tool_options(chat)


def _add_tool_options(chat: argparse.ArgumentParser) -> None:
    tools = chat.add_argument_group("thinking and tools")
    tools.add_argument(
        "--tool",
        action="append",
        metavar="NAME",
        help="offer this tool (repeatable): a built-in (desktopchat tools list) or server:tool",
    )
    tools.add_argument(
        "--tool-choice",
        metavar="CHOICE",
        help="auto (default), required (the first reply must call a tool), none, or a tool",
    )
    tools.add_argument(
        "--approve",
        choices=["ask", "all", "none"],
        default="ask",
        help="before a tool runs: ask on the terminal (default), allow all, or deny all",
    )
    tools.add_argument(
        "--thinking",
        choices=["on", "off", "low", "medium", "high"],
        help="a thinking model's reasoning: on, off, or gpt-oss's effort",
    )
    tools.add_argument(
        "--thinking-budget", type=int, metavar="N", help="thinking tokens before it must answer"
    )
    tools.add_argument(
        "--max-tool-steps", type=int, metavar="N", help="tool-calling replies before the answer"
    )


def _add_tools(commands: Commands) -> None:
    tools = commands.add_parser("tools", help="the tools models may call")
    tool_commands = tools.add_subparsers(dest="tools_command", required=True)
    tool_list = tool_commands.add_parser(
        "list", help="built-in tools and the tools of every MCP server"
    )
    tool_list.add_argument("--json", action="store_true")
    mcp = commands.add_parser("mcp", help="add, list or remove MCP servers")
    mcp_commands = mcp.add_subparsers(dest="mcp_command", required=True)
    add = mcp_commands.add_parser(
        "add",
        help="add a server: NAME -- COMMAND ARGS... (stdio), or NAME --url URL (HTTP)",
    )
    add.add_argument("name")
    add.add_argument("--url", help="a Streamable HTTP server's URL")
    add.add_argument(
        "--key-stdin", action="store_true", help="read the HTTP server's key from standard input"
    )
    add.add_argument(
        "--permission", choices=["ask", "allow", "off"], default="ask", help="default: ask"
    )
    add.add_argument("server_command", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS")
    mcp_list = mcp_commands.add_parser("list")
    mcp_list.add_argument("--json", action="store_true")
    remove = mcp_commands.add_parser("remove")
    remove.add_argument("name")
    imported = mcp_commands.add_parser(
        "import", help='add the servers of an "mcpServers" JSON file (Claude Desktop, Cursor)'
    )
    imported.add_argument("file")


def _add_conversations(commands: Commands) -> None:
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
        "import",
        help="add conversations from our JSON export, or a ChatGPT export "
        "(conversations.json or the downloaded .zip)",
    )
    import_.add_argument("file")
    search_chats = commands.add_parser("search", help="search every conversation's messages")
    search_chats.add_argument("query")
    search_chats.add_argument("--best", action="store_true", help="best match first")
    search_chats.add_argument("--limit", type=int, default=50)
    search_chats.add_argument("--json", action="store_true")


def _add_models(commands: Commands) -> None:
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
    token = commands.add_parser("token", help="the Hugging Face token, kept in the OS keychain")
    token.add_argument(
        "action",
        choices=["set", "status", "clear"],
        help="set (reads the token from stdin), status, clear",
    )


def _add_documents(commands: Commands) -> None:
    docs = commands.add_parser(
        "docs",
        help="local document collections: add, list, status, remove, search, wait, model",
        description="Local document collections that chats answer from (chat --docs NAME). "
        "Files and folders are indexed in the background (folders are watched while the "
        "window runs); docs wait indexes until everything is searchable.",
    )
    actions = docs.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add files and folders to a collection")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.add_argument(
        "--collection", metavar="NAME", help="the collection (made if new; default: Documents)"
    )
    listed = actions.add_parser("list", help="the collections and their counts")
    listed.add_argument("--json", action="store_true")
    status = actions.add_parser("status", help="each file's state (indexed, failed, ...)")
    status.add_argument("--collection", metavar="NAME", help="only this collection")
    status.add_argument("--json", action="store_true")
    remove = actions.add_parser(
        "remove", help="remove files or folders from the index, or a whole collection"
    )
    remove.add_argument("paths", nargs="*", metavar="PATH")
    remove.add_argument(
        "--collection",
        metavar="NAME",
        help="with PATHs: only from this collection; alone: delete the collection",
    )
    search = actions.add_parser("search", help="the passages that best match a query")
    search.add_argument("query")
    search.add_argument("--collection", metavar="NAME", help="only this collection")
    search.add_argument("--limit", type=int, default=10, help="passages to show (default 10)")
    search.add_argument("--json", action="store_true")
    wait = actions.add_parser("wait", help="index until every file is searchable")
    wait.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up after this long (exit 1)"
    )
    model = actions.add_parser(
        "model",
        help="the embedding model: show it and the installed choices, or choose one",
        description="Without NAME: the embedding model in use and the choices. With NAME "
        "(an installed embedding model, by file name or name) or PATH (a GGUF file): use "
        "it; --builtin: the built-in all-MiniLM-L6-v2. Passages are embedded again in the "
        "background (docs wait, or the window); keyword search works meanwhile.",
    )
    model.add_argument("name", nargs="?", metavar="NAME|PATH")
    model.add_argument("--builtin", action="store_true", help="use the built-in all-MiniLM-L6-v2")
    model.add_argument("--json", action="store_true")


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
