"""``models list|import|search|files|download|remove`` and ``token``: the model library,
the Hugging Face Hub (loaded only when a command connects) and the token in the keychain."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from desktopchat import app
from desktopchat.cli.output import EXIT_INTERRUPTED, EXIT_OK, emit_json, note
from desktopchat.core.chat import GenerationParams
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.models.downloads import Progress
from desktopchat.core.models.fit import GpuDevice
from desktopchat.core.models.library import human_size
from desktopchat.core.models.remote import ModelFile, RepoFiles
from desktopchat.core.secrets import SecretStore
from desktopchat.core.session import Core
from desktopchat.core.settings import load_settings

if TYPE_CHECKING:  # the Hub client imports huggingface_hub: only when a command connects
    from desktopchat.core.models.hub import Hub


def models(args: argparse.Namespace, core: Core) -> int:
    if args.action in ("search", "files", "download", "remove"):
        return _manage(args, core)
    library = core.library
    if args.action == "import":
        model = library.import_file(Path(args.path), copy=args.copy)
        print(f"imported {model.label()}\n  {model.path}")
        if model.warning:
            note(f"Warning: {model.warning}")
        return EXIT_OK
    found = library.scan()
    if args.json:
        emit_json(
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
                for m in found
            ]
        )
        return EXIT_OK
    for m in found:
        if m.info is None:
            print(f"[unusable] {m.path}: {m.problem}")
            continue
        template = "chat template" if m.info.chat_template else "no chat template"
        print(
            f"{m.name}  ({m.source})\n  {m.info.architecture}, {m.info.parameter_count / 1e6:.0f}M "
            f"parameters, {m.info.quantization}, {human_size(m.size_bytes)}, "
            f"context {m.info.context_length:,}, {template}\n  {m.path}"
        )
    return EXIT_OK


def _manage(args: argparse.Namespace, core: Core) -> int:
    """The model manager's Hub commands (search, files, download) and remove."""
    # Imported here: huggingface_hub is loaded only when the model manager is used.
    from desktopchat.core.models.architectures import ArchitectureTable
    from desktopchat.core.models.manager import check_remote, make_hub, remove_model

    if args.action == "remove":
        installed = core.library.find(args.name)
        removed = remove_model(installed, core.paths.models, core.model_records)
        if removed.freed:
            print(f"Deleted {removed.path} ({human_size(removed.freed)} freed).")
        else:
            print(f"Forgot {removed.path}; the file itself was left where it is.")
        return EXIT_OK
    settings = load_settings(core.paths.settings_file)
    hub = make_hub(SecretStore(), offline=settings.offline_mode)
    if args.action == "search":
        found = hub.search(args.query, sort=args.sort, limit=args.limit)
        if args.json:
            emit_json([asdict(r) for r in found])
            return EXIT_OK
        for r in found:
            gated = "  [gated]" if r.gated else ""
            print(f"{r.repo_id}  ({r.downloads:,} downloads, {r.likes:,} likes){gated}")
        return EXIT_OK
    listing = hub.files(args.repo)
    devices = _gpu_devices()
    table = ArchitectureTable()  # llama.cpp's architecture names, read once for all files
    if args.action == "download":
        model = listing.find(args.file)
        check = check_remote(
            hub, listing, model, GenerationParams().n_ctx, devices, architectures=table
        )
        if check.warning:
            note(f"Warning: {check.warning}")
        return _download(core, hub, listing, model)
    rows = [
        (model, check_remote(hub, listing, model, args.context, devices, architectures=table))
        for model in listing.models()
    ]
    if args.json:
        emit_json(
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
        return EXIT_OK
    gated = "  (gated: accept the licence on its page and set a token)" if listing.gated else ""
    print(f"{listing.repo_id} at {listing.revision[:12]}{gated}")
    for file, check in rows:
        print(f"  {file.label}  {file.quantization or '?'}  {human_size(file.size)}")
        print(f"      {check.text}")
    return EXIT_OK


def _gpu_devices() -> list[GpuDevice]:
    """The GPUs to plan a download's fit for, as the engine sees them."""
    engine = app.make_engine()
    try:
        return engine.gpu_devices()
    finally:
        engine.close()


def _download(core: Core, hub: Hub, listing: RepoFiles, model: ModelFile) -> int:
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
        note("\nPaused: run the same command again to continue.")
        return EXIT_INTERRUPTED
    print(file=sys.stderr)
    print(f"Downloaded and verified {model.label}\n  {path}")
    return EXIT_OK


def token(args: argparse.Namespace) -> int:
    from desktopchat.core.models.manager import make_hub  # the Hub client: only when used

    store = SecretStore()
    if args.action == "set":
        if sys.stdin.isatty():
            note("Paste the Hugging Face token and press Enter:")
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
            note(f"It could not be checked: {exc}")
        return EXIT_OK
    if args.action == "clear":
        store.delete()
        print("The token was removed from the keychain.")
        return EXIT_OK
    if store.get() is None:
        print("No Hugging Face token is set (public models need none).")
        return EXIT_OK
    print(f"Signed in as {make_hub(store, offline=False).whoami()}.")
    return EXIT_OK
