"""The retrieval evaluation's questions (bench/data/retrieval_questions.json) are well formed
and every answer is in its file of the shipped document set (the pinned awscli package)."""

from __future__ import annotations

import json
import re

import pytest

from bench.eval_data import QUESTIONS_FILE, DocumentSet, Question, load


@pytest.fixture(scope="module")
def evaluation() -> tuple[DocumentSet, list[Question]]:
    return load()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_the_file_is_well_formed() -> None:
    data = json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))
    assert set(data) >= {"document_set", "questions"}
    spec = data["document_set"]
    assert spec["package"] and re.fullmatch(r"\d+(\.\d+)+", spec["version"])
    assert spec["include"] and all(isinstance(p, str) for p in spec["include"])
    for item in data["questions"]:
        assert set(item) == {"question", "file", "answer"}, item
        assert all(isinstance(v, str) and v.strip() for v in item.values()), item
        assert not item["file"].startswith("/") and ".." not in item["file"].split("/")


def test_there_are_40_to_80_distinct_questions(
    evaluation: tuple[DocumentSet, list[Question]],
) -> None:
    _, questions = evaluation
    assert 40 <= len(questions) <= 80
    texts = [q.question.casefold() for q in questions]
    assert len(set(texts)) == len(texts)


def test_the_pinned_version_is_installed(evaluation: tuple[DocumentSet, list[Question]]) -> None:
    documents, _ = evaluation
    assert documents.installed_version() == documents.version, (
        f"the questions were written against {documents.package}=={documents.version}"
    )


def test_every_answer_file_is_in_the_set_and_holds_its_answer(
    evaluation: tuple[DocumentSet, list[Question]],
) -> None:
    documents, questions = evaluation
    files = set(documents.files())
    assert len(files) > 500  # the set is a real collection, not the answers alone
    root = documents.root()
    for q in questions:
        assert q.file in files, q
        assert q.answer in (root / q.file).read_text(encoding="utf-8"), q


def test_no_question_copies_its_file(evaluation: tuple[DocumentSet, list[Question]]) -> None:
    """No run of five words of a question is in its file: the questions are asked in a
    user's words, so keyword search is not trivially perfect."""
    documents, questions = evaluation
    root = documents.root()
    for q in questions:
        text = words((root / q.file).read_text(encoding="utf-8"))
        runs = {tuple(text[i : i + 5]) for i in range(len(text) - 4)}
        asked = words(q.question)
        copied = [asked[i : i + 5] for i in range(len(asked) - 4)]
        copied = [run for run in copied if tuple(run) in runs]
        assert not copied, (q.question, copied)
