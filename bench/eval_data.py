"""The retrieval evaluation's data: a real public document set that a package ships, and
questions whose answer is in one known file of it (``bench/data/retrieval_questions.json``).

The set is the AWS CLI's own documentation as the ``awscli`` wheel installs it (its help
topics and command examples, reStructuredText, Apache-2.0): the bench extra pins the
version the questions were written against. Nothing here imports the package (that would
import botocore): the files are found through the import system's spec.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

QUESTIONS_FILE = Path(__file__).parent / "data" / "retrieval_questions.json"


@dataclass(frozen=True)
class Question:
    question: str
    file: str  # the answering file, relative to the set's root, with "/" separators
    answer: str  # a short phrase from that file


@dataclass(frozen=True)
class DocumentSet:
    package: str
    version: str
    include: tuple[str, ...]  # glob patterns relative to the package's folder

    def root(self) -> Path:
        """The installed package's folder; raises LookupError with what to install."""
        spec = importlib.util.find_spec(self.package)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise LookupError(
                f"the evaluation's document set is the {self.package}=={self.version} "
                f"package: install it (pip install -e '.[test]')"
            )
        return Path(locations[0])

    def installed_version(self) -> str | None:
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return None

    def files(self) -> list[str]:
        """The set's files, relative to root(), sorted."""
        root = self.root()
        found = {
            path.relative_to(root).as_posix()
            for pattern in self.include
            for path in root.glob(pattern)
            if path.is_file()
        }
        return sorted(found)

    def copy_to(self, folder: Path) -> list[Path]:
        """Copy the set into ``folder`` (same relative paths): the folder the bench adds."""
        root = self.root()
        copied = []
        for relative in self.files():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, target)
            copied.append(target)
        return copied


def load(path: Path = QUESTIONS_FILE) -> tuple[DocumentSet, list[Question]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    spec = data["document_set"]
    documents = DocumentSet(spec["package"], spec["version"], tuple(spec["include"]))
    questions = [Question(q["question"], q["file"], q["answer"]) for q in data["questions"]]
    return documents, questions
