"""What DesktopChat is made of, and under which licences: the About dialog, ``desktopchat
about`` and the bundle's THIRD-PARTY-NOTICES.txt all read this.

The list is not kept by hand: it is every distribution DesktopChat needs at run time
(its requirements, followed transitively, extras left out) plus the starter model and the
built-in embedding model's package, read from the installed packages' metadata and licence
files. Parts whose licence is not in any package's metadata (llama.cpp inside
llama-cpp-python, the starter model's weights, all-MiniLM-L6-v2's weights) come from
``resources/notices``; the embedding model is listed even where its package is not
installed (a bundle carries only the converted GGUF). PyInstaller copies the same
metadata into the bundle (packaging/desktopchat.spec asks this module what to copy), so a
bundle shows the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from desktopchat import __version__
from desktopchat.core.documents.default_embedder import DISTRIBUTION as EMBEDDER_DISTRIBUTION
from desktopchat.core.models.library import STARTER_DISTRIBUTION

ROOT_DISTRIBUTION = "desktopchat"
NOTICES = Path(__file__).resolve().parent.parent / "resources" / "notices"
_LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|COPYRIGHT)", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
_CLASSIFIER = "License :: OSI Approved :: "


def _normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    licence: str  # a short name or SPDX expression
    texts: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (file name, text)
    note: str = ""  # what the component is to DesktopChat, when that is not obvious

    def text(self) -> str:
        parts = [f"{self.name} {self.version}: {self.licence}"]
        if self.note:
            parts.append(self.note)
        parts += [f"--- {name} ---\n{body.strip()}" for name, body in self.texts]
        return "\n\n".join(parts)


# Parts bundled inside another distribution, with the notices that distribution lacks
# (keyed by normalised distribution name): (part, licence, notice files, note).
EXTRA_PARTS = {
    "llama-cpp-python": (
        "llama.cpp",
        "MIT",
        ("llama.cpp.txt",),
        "The inference engine, compiled into llama-cpp-python's shared libraries.",
    ),
    "pyside6-essentials": (
        "Qt",
        "LGPL-3.0-only",
        ("LGPL-3.0.txt", "GPL-3.0.txt"),
        "Qt's libraries are used under the LGPL-3.0 (which builds on the GPL-3.0's text) "
        "as separate shared libraries in the application's folder, which you may replace "
        "with your own build of the same Qt version.",
    ),
    _normalise(STARTER_DISTRIBUTION): (
        "SmolLM2-135M-Instruct (starter model)",
        "Apache-2.0",
        ("SmolLM2.txt",),
        "The bundled starter model's weights, by Hugging Face (HuggingFaceTB/SmolLM2).",
    ),
    _normalise(EMBEDDER_DISTRIBUTION): (
        "all-MiniLM-L6-v2 (built-in embedding model)",
        "Apache-2.0",
        ("all-MiniLM-L6-v2.txt",),
        "The built-in embedding model's weights and tokenizer, by the sentence-transformers "
        "authors (sentence-transformers/all-MiniLM-L6-v2), converted to GGUF; they turn "
        "document passages into vectors for search.",
    ),
}
# Installed without their dependencies: those are not ours, so not followed.
_NO_DEPENDENCIES = {_normalise(STARTER_DISTRIBUTION), _normalise(EMBEDDER_DISTRIBUTION)}


def runtime_distributions() -> list[metadata.Distribution]:
    """DesktopChat's own distribution, its run-time requirements (transitively, no
    extras, only those that apply here), the starter model's package and the built-in
    embedding model's."""
    found: dict[str, metadata.Distribution] = {}
    pending = [ROOT_DISTRIBUTION, STARTER_DISTRIBUTION, EMBEDDER_DISTRIBUTION]
    while pending:
        name = pending.pop()
        key = _normalise(name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[key] = dist
        if key in _NO_DEPENDENCIES:
            continue  # installed without its dependencies: they are not ours
        for requirement in dist.requires or ():
            if _applies(requirement):
                match = _NAME.match(requirement.strip())
                if match:
                    pending.append(match.group(0))
    root = found.pop(_normalise(ROOT_DISTRIBUTION), None)
    rest = sorted(found.values(), key=lambda d: d.metadata["Name"].lower())
    return ([root] if root is not None else []) + rest


def components() -> list[Component]:
    """Every part, DesktopChat first, with its licence texts."""
    result = []
    for dist in runtime_distributions():
        name = dist.metadata["Name"]
        texts = licence_texts(dist)
        if not texts and _normalise(name) == ROOT_DISTRIBUTION:
            texts = _own_licence()  # a checkout's egg-info lists no licence file
        result.append(Component(name, dist.version, licence_of(dist), texts))
        extra = EXTRA_PARTS.get(_normalise(name))
        if extra is not None:
            part, licence, files, note = extra
            texts = tuple((f, (NOTICES / f).read_text(encoding="utf-8")) for f in files)
            inside = f"(in {name} {dist.version})"
            result.append(Component(part, inside, licence, texts, note))
    if not result or result[0].name.lower() != ROOT_DISTRIBUTION:  # running from a bare tree
        result.insert(0, Component("DesktopChat", __version__, "MIT"))
    part, licence, files, note = EXTRA_PARTS[_normalise(EMBEDDER_DISTRIBUTION)]
    if not any(c.name == part for c in result):  # a bundle: the GGUF without its package
        texts = tuple((f, (NOTICES / f).read_text(encoding="utf-8")) for f in files)
        result.append(Component(part, "(converted to GGUF)", licence, texts, note))
    return result


def licence_of(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = _field(meta, "License-Expression")
    if expression:
        return str(expression)
    classifiers = [
        c.removeprefix(_CLASSIFIER).removesuffix(" License")
        for c in meta.get_all("Classifier") or ()
        if c.startswith(_CLASSIFIER)
    ]
    if classifiers:
        return " / ".join(classifiers)
    declared = _field(meta, "License").strip()
    first = declared.splitlines()[0] if declared else ""
    return first if first and len(first) <= 60 else "see the licence text"


def licence_texts(dist: metadata.Distribution) -> tuple[tuple[str, str], ...]:
    texts = []
    for entry in dist.files or ():
        parts = entry.parts
        if not parts or not parts[0].endswith(".dist-info"):
            continue
        if _LICENCE_FILE.match(entry.name) or (len(parts) > 2 and parts[1] == "licenses"):
            try:
                body = Path(str(dist.locate_file(entry))).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            texts.append(("/".join(parts[1:]), body))
    return tuple(texts)


def _own_licence() -> tuple[tuple[str, str], ...]:
    package = Path(__file__).resolve().parent.parent
    for path in (package / "LICENSE", package.parent / "LICENSE"):  # bundle, checkout
        if path.is_file():
            return (("LICENSE", path.read_text(encoding="utf-8")),)
    return ()


def notices_text() -> str:
    """All of it as one plain-text file (shipped in the bundle)."""
    header = (
        f"DesktopChat {__version__}: the software it contains and its licences.\n"
        "Each part is listed with its version, licence and the licence texts its authors "
        "ship."
    )
    bar = "=" * 78
    return "\n\n".join([header, *(f"{bar}\n{c.text()}" for c in components())]) + "\n"


def _field(meta: metadata.PackageMetadata, name: str) -> str:
    """A metadata field, "" when absent (a missing key raises in some versions)."""
    values = meta.get_all(name) or []
    return str(values[0]) if values else ""


def _applies(requirement: str) -> bool:
    """A requirement without an ``extra`` marker whose environment marker holds here."""
    if ";" not in requirement:
        return True
    marker = requirement.split(";", 1)[1]
    if "extra" in marker:
        return False
    from packaging.markers import Marker  # huggingface_hub depends on packaging

    try:
        return bool(Marker(marker).evaluate())
    except Exception:
        return True  # when in doubt, list it
