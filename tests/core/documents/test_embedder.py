"""The embedding engine: LlamaEmbedder in this process and ProcessEmbedder in a child, on
the real built-in model (all-MiniLM-L6-v2 as GGUF) and real llama.cpp.

Vectors are unit length, batching does not change them, long texts keep their final
[SEP], cancel stops a batch, bad files get a clear error; the child process gives the
same vectors, survives SIGKILL with a clear error and a fresh child, lets a query pass a
long batch, and ends on close.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from desktopchat.core.documents.default_embedder import (
    DEFAULT_EMBEDDER_ID,
    source_folder,
    tokenizer_path,
    weights_path,
)
from desktopchat.core.errors import EngineCrashedError, InvalidModelFileError
from desktopchat.core.inference.llama.embedding import (
    EmbeddingCancelledError,
    LlamaEmbedder,
    benchmark_embed,
)
from desktopchat.core.inference.process_embedder import (
    EmbeddingCancelledError as ProcessCancelledError,
)
from desktopchat.core.inference.process_embedder import ProcessEmbedder
from desktopchat.core.models.embedder_convert import BertSource, convert_bert
from tests.core.documents.bert_reference import BertReference

PASSAGES = [
    "The invoice must be paid by the end of the month.",
    "Restart the router and wait two minutes before you connect again.",
    "The cat sat on the warm windowsill all afternoon.",
    "Quarterly revenue grew by twelve percent.",
    "Die Rechnung ist am Monatsende fällig.",
    "請求書の支払期限は月末です。",
]


def _cos(a: object, b: object) -> float:
    return float(np.dot(np.asarray(a), np.asarray(b)))


def test_vectors_are_unit_length_and_find_the_related_passage(embedder: LlamaEmbedder) -> None:
    vectors = np.asarray(embedder.embed(PASSAGES))
    assert vectors.shape == (len(PASSAGES), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    (query,) = embedder.embed(["When is the bill due?"])
    ranked = np.argsort(-(vectors @ np.asarray(query)))
    assert ranked[0] == 0  # the invoice, not the cat
    assert embedder.embed([]) == []


def test_batching_does_not_change_a_vector(embedder: LlamaEmbedder) -> None:
    alone = [embedder.embed([text])[0] for text in PASSAGES]
    together = embedder.embed(PASSAGES * 5)  # several decodes, several texts in each
    for index, vector in enumerate(together):
        assert _cos(vector, alone[index % len(PASSAGES)]) > 0.99999


def test_odd_text_is_embedded_without_harm(embedder: LlamaEmbedder) -> None:
    odd = ["", "\x00\x00", "lone \ud800 surrogate", "🚀" * 300, "x" * 100_000]
    vectors = embedder.embed(odd)
    assert len(vectors) == len(odd)
    assert all(np.isfinite(v).all() for v in vectors)
    assert embedder.count_tokens("x " * 5000) == 5002  # counted untruncated


def test_cancel_stops_a_batch_between_decodes(embedder: LlamaEmbedder) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EmbeddingCancelledError):
        embedder.embed(PASSAGES * 50, cancel)
    assert len(embedder.embed(PASSAGES)) == len(PASSAGES)  # usable afterwards


def test_a_file_that_is_not_a_model_is_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 100)
    with pytest.raises(InvalidModelFileError, match=r"not-a-model\.gguf"):
        LlamaEmbedder(bad, n_threads=1)


def test_a_gguf_without_its_own_tokenizer_uses_llama_cpp_s(tmp_path: Path) -> None:
    """A catalogue model's path: tokenized by llama.cpp, truncated inside [CLS]/[SEP]."""
    source = tmp_path / "model"
    source.mkdir()
    real = source_folder()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (source / name).symlink_to(real / name)
    plain = tmp_path / "plain.gguf"
    convert_bert(BertSource(source), plain, embed_tokenizer=False)
    embedder = LlamaEmbedder(plain, n_threads=2, max_tokens=256)
    try:
        assert embedder.model_id.startswith("plain.gguf:")  # no stored id: the file's own
        reference = BertReference(weights_path(), tokenizer_path(), real / "config.json")
        english = PASSAGES[:4]
        for text, vector in zip(english, embedder.embed(english), strict=True):
            assert embedder.token_ids(text) == reference.token_ids(text)
            assert _cos(vector, reference.embed(text)) > 0.999
        ids = embedder.token_ids(" ".join(["word"] * 1000))
        assert len(ids) == 256 and ids[0] == 101 and ids[-1] == 102
    finally:
        embedder.close()


def test_benchmark_reports_the_raw_rate(embedder: LlamaEmbedder) -> None:
    timing = benchmark_embed(embedder, PASSAGES)
    assert timing.texts == len(PASSAGES) and timing.tokens > len(PASSAGES) * 5
    assert timing.texts_per_second > 0 and timing.tokens_per_second > timing.texts_per_second


# -- the child process -----------------------------------------------------------------


@pytest.fixture
def process_embedder() -> Iterator[ProcessEmbedder]:
    embedder = ProcessEmbedder(n_threads=2)
    yield embedder
    embedder.close()


def test_the_child_gives_the_same_vectors(
    process_embedder: ProcessEmbedder, embedder: LlamaEmbedder
) -> None:
    assert process_embedder.model_id == embedder.model_id == DEFAULT_EMBEDDER_ID
    assert process_embedder.dimensions == 384 and process_embedder.max_tokens == 256
    theirs = process_embedder.embed(PASSAGES * 3)  # several requests to the child
    ours = embedder.embed(PASSAGES * 3)
    for a, b in zip(theirs, ours, strict=True):
        assert _cos(a, b) > 0.99999
    assert process_embedder.count_tokens("hello world") == embedder.count_tokens("hello world")


def test_a_killed_child_is_reported_and_the_next_call_starts_a_fresh_one(
    process_embedder: ProcessEmbedder,
) -> None:
    process_embedder.start()
    first = process_embedder.pid
    assert first is not None
    errors: list[BaseException] = []

    def long_batch() -> None:
        try:
            process_embedder.embed(PASSAGES * 400)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=long_batch)
    worker.start()
    time.sleep(0.5)  # let it get going; whenever the kill lands, the batch fails
    os.kill(first, signal.SIGKILL)
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], EngineCrashedError)
    assert "SIGKILL" in str(errors[0])
    (vector,) = process_embedder.embed(["after the crash"])
    assert process_embedder.pid not in (None, first)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_a_query_goes_before_the_rest_of_a_long_batch(process_embedder: ProcessEmbedder) -> None:
    process_embedder.start()
    outcome: list[str] = []
    started = threading.Event()
    cancel = threading.Event()

    def long_batch() -> None:
        started.set()
        try:
            process_embedder.embed(PASSAGES * 400, cancel)  # 300 requests to the child
            outcome.append("batch finished")
        except ProcessCancelledError:
            outcome.append("batch still running")

    worker = threading.Thread(target=long_batch)
    worker.start()
    started.wait()
    time.sleep(0.2)
    (vector,) = process_embedder.embed(["When is the bill due?"])
    cancel.set()  # the query is answered: stop the batch where it is
    worker.join(timeout=300)
    assert outcome == ["batch still running"]  # the query did not wait for the whole batch
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_cancel_reaches_the_child_and_it_stays_usable(process_embedder: ProcessEmbedder) -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    with pytest.raises(ProcessCancelledError):
        process_embedder.embed(PASSAGES * 400, cancel)
    timer.join()
    assert len(process_embedder.embed(PASSAGES)) == len(PASSAGES)


def test_close_ends_the_child(process_embedder: ProcessEmbedder) -> None:
    process_embedder.start()
    pid = process_embedder.pid
    assert pid is not None
    process_embedder.close()
    assert process_embedder.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _thread_niceness(pid: int) -> list[int]:
    """The niceness of every thread of ``pid`` (Linux: /proc/PID/task/TID/stat, field 19)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int((t / "stat").read_text().rsplit(")", 1)[1].split()[16]) for t in tasks.iterdir()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_the_embedding_process_runs_at_a_lower_priority(
    process_embedder: ProcessEmbedder,
) -> None:
    """With both cores embedding, the window's GUI thread must still get a core at once:
    every thread of the embedding process (llama.cpp's included) is nicer than the app."""
    from desktopchat.core.inference.process_engine import BACKGROUND_NICENESS

    process_embedder.embed(PASSAGES)
    pid = process_embedder.pid
    assert pid is not None
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    niceness = _thread_niceness(pid)
    assert niceness and all(n >= min(19, ours + BACKGROUND_NICENESS) for n in niceness)
