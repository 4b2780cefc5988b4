"""``about``: the version, the engine's build (asked through the engine protocol, so the
answer comes from where llama.cpp runs), the keychain, the folders and the licences."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from desktopchat import __version__, app
from desktopchat.cli.output import EXIT_OK, emit_json
from desktopchat.core import notices
from desktopchat.core.inference.engine import BackendInfo
from desktopchat.core.models.library import starter_model_path
from desktopchat.core.secrets import SecretStore
from desktopchat.core.session import Core


def _backend_info() -> BackendInfo:
    engine = app.make_engine()
    try:
        return engine.backend_info()
    finally:
        engine.close()


def about(args: argparse.Namespace, core: Core) -> int:
    if args.licences:
        print(notices.notices_text(), end="")
        return EXIT_OK
    info = _backend_info()
    keychain = SecretStore().status()
    starter = starter_model_path()
    folders = {k: str(v) for k, v in asdict(core.paths).items()}
    python = sys.version.split()[0]
    engine = f"llama-cpp-python {info.version}"
    if args.json:
        emit_json(
            {
                "version": __version__,
                "python": python,
                "engine": engine,
                "backend": info.summary(),
                "backends": list(info.backends),
                "gpus": list(info.gpus),
                "keychain": asdict(keychain),
                "starter_model": str(starter) if starter is not None else None,
                "folders": folders,
                "components": [
                    {"name": c.name, "version": c.version, "licence": c.licence}
                    for c in notices.components()
                ],
            }
        )
        return EXIT_OK
    print(f"DesktopChat {__version__} (Python {python}, {engine})")
    print(f"Backend: {info.summary()}")
    where = keychain.backend if keychain.available else f"none ({keychain.reason})"
    print(f"Keychain: {where}")
    print(f"Starter model: {starter or 'not installed'}")
    for name, folder in folders.items():
        print(f"{name.capitalize()}: {folder}")
    print("Licences of its components: desktopchat about --licences")
    return EXIT_OK
