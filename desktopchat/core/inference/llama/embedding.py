"""LlamaEmbedder: text to unit-length vectors with llama.cpp (the Embedder protocol).

The only module that imports ``tokenizers``. A GGUF file that carries its Hugging Face
tokenizer (``tokenizer.huggingface.json``, as the built-in all-MiniLM-L6-v2 does, see
core/models/embedder_convert.py) is tokenized with it: llama.cpp's WordPiece normalizes
some scripts differently (Korean jamo are lost: cosine 0.65 against the reference). Any
other GGUF embedding model is tokenized by llama.cpp itself. Either way the token ids are
fed to llama.cpp directly, so what is counted is what is embedded.

Traps handled here (DESIGN §9): a sequence must fit one ubatch (``n_ubatch = n_batch``);
a text longer than ``max_tokens`` is cut *inside* its special tokens, so the final [SEP]
stays, as sentence-transformers does; vectors are normalized here; several short texts
share one decode (``batch_tokens`` per decode: 128 measured best on 2 cores, because
packing many sequences into one ubatch computes full masked attention across them).

One thread at a time uses an instance (ProcessEmbedder serializes for its callers).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tokenizers import Tokenizer

from desktopchat.core.errors import DesktopChatError, ModelLoadError
from desktopchat.core.inference.llama.native import LogTail, NativeLlama
from desktopchat.core.models.gguf import read_gguf

log = logging.getLogger("desktopchat.llama")

HF_TOKENIZER_KEY = "tokenizer.huggingface.json"
EMBEDDER_ID_KEY = "desktopchat.embedder.id"
MAX_TOKENS_KEY = "desktopchat.embedder.max_tokens"
BATCH_TOKENS = 128  # tokens per decode when several texts share it
DEFAULT_MAX_TOKENS = 512  # cap for models that do not say (attention grows with the square)
_POOLING_NONE = 0


class EmbeddingCancelledError(DesktopChatError):
    """An embed call was cancelled before it finished (nothing is returned)."""


@dataclass(frozen=True)
class EmbedTiming:
    """The raw rate of one ``benchmark_embed`` run."""

    texts: int
    tokens: int
    seconds: float
    batch_tokens: int

    @property
    def texts_per_second(self) -> float:
        return self.texts / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class _HfTokens:
    """Token ids with the Hugging Face tokenizer the file carries."""

    def __init__(self, tokenizer_json: str, max_tokens: int) -> None:
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._max = max_tokens
        self._specials = self._tokenizer.num_special_tokens_to_add(False)

    def ids(self, text: str, *, truncate: bool) -> list[int]:
        encoding = self._tokenizer.encode(text)
        ids: list[int] = encoding.ids
        if truncate and len(ids) > self._max:
            # Cut inside the special tokens: [CLS] body... [SEP] keeps its [SEP].
            self._tokenizer.enable_truncation(self._max)
            try:
                ids = self._tokenizer.encode(text).ids
            finally:
                self._tokenizer.no_truncation()
        return ids


class _LlamaTokens:
    """Token ids with llama.cpp's own tokenizer, truncated inside the special tokens."""

    def __init__(self, llama: Any, max_tokens: int) -> None:
        self._llama = llama
        self._max = max_tokens
        plain = llama.tokenize(b"a", add_bos=False, special=False)
        wrapped = llama.tokenize(b"a", add_bos=True, special=False)
        start = _find(wrapped, plain)
        if start < 0:  # the specials change the text's own tokens: treat all as body
            self._prefix, self._suffix = [], []
        else:
            self._prefix = wrapped[:start]
            self._suffix = wrapped[start + len(plain) :]

    def ids(self, text: str, *, truncate: bool) -> list[int]:
        body: list[int] = self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if truncate:
            body = body[: max(0, self._max - len(self._prefix) - len(self._suffix))]
        return [*self._prefix, *body, *self._suffix]


class LlamaEmbedder:
    """One GGUF embedding model loaded with llama.cpp (``embedding=True``)."""

    def __init__(
        self,
        path: Path,
        *,
        n_threads: int | None = None,
        batch_tokens: int = BATCH_TOKENS,
        max_tokens: int | None = None,
        n_gpu_layers: int = 0,
        native: NativeLlama | None = None,
    ) -> None:
        """Loads the model (raises InvalidModelFileError for a bad header, ModelLoadError
        with llama.cpp's reason when it refuses the file). ``max_tokens`` lowers the
        model's own limit; ``n_gpu_layers`` offloads on a GPU build (-1: all)."""
        self._path = Path(path)
        info = read_gguf(self._path)  # our bounded reader sees the file before llama.cpp
        self._native = native if native is not None else NativeLlama()
        self.log_tail = LogTail()
        metadata = info.metadata
        arch = info.architecture
        trained = info.context_length or DEFAULT_MAX_TOKENS
        declared = metadata.get(MAX_TOKENS_KEY)
        limit = declared if isinstance(declared, int) and declared > 0 else DEFAULT_MAX_TOKENS
        self._max_tokens = min(max_tokens or limit, trained)
        self._batch_tokens = max(1, batch_tokens)
        n_batch = max(self._max_tokens, self._batch_tokens)
        pooling_value = metadata.get(f"{arch}.pooling_type")
        pooling = "mean" if pooling_value in (None, _POOLING_NONE) else ""
        threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self._lock = threading.Lock()
        self.log_tail.clear()
        with self._native.router.listen(self.log_tail):
            try:
                self._llama = self._native.construct_embedder(
                    str(self._path),
                    n_ctx=n_batch,
                    n_batch=n_batch,
                    n_threads=threads,
                    n_gpu_layers=n_gpu_layers,
                    pooling=pooling,
                )
            except ValueError:
                reasons = [line for line in self.log_tail.lines() if "error" in line.lower()]
                detail = f" llama.cpp said: {reasons[-1]}" if reasons else ""
                raise ModelLoadError(
                    f"{self._path.name} could not be loaded as an embedding model.{detail}"
                ) from None
        self._n_seq_max = int(self._llama.context_params.n_seq_max)
        self._dimensions = int(self._llama.n_embd())
        hf_json = metadata.get(HF_TOKENIZER_KEY)
        self._tokens: _HfTokens | _LlamaTokens
        if isinstance(hf_json, str) and hf_json:
            self._tokens = _HfTokens(hf_json, self._max_tokens)
        else:
            self._tokens = _LlamaTokens(self._llama, self._max_tokens)
        stored_id = metadata.get(EMBEDDER_ID_KEY)
        self._model_id = (
            stored_id if isinstance(stored_id, str) and stored_id else _file_id(self._path)
        )
        log.info(
            "embedder %s: %d dimensions, %d tokens at most, %d threads",
            self._model_id,
            self._dimensions,
            self._max_tokens,
            threads,
        )

    # -- the Embedder protocol ---------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def path(self) -> Path:
        return self._path

    def count_tokens(self, text: str) -> int:
        """The text's tokens with the model's special tokens ([CLS], [SEP]), untruncated."""
        with self._lock:
            return len(self._tokens.ids(_clean(text), truncate=False))

    def embed(
        self, texts: Sequence[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        return self.embed_array(texts, cancel).tolist()  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._lock:
            llama, self._llama = self._llama, None
            if llama is not None:
                llama.close()

    # -- beyond the protocol -----------------------------------------------------------

    def token_ids(self, text: str) -> list[int]:
        """The ids embedded for ``text`` (truncated at ``max_tokens``)."""
        with self._lock:
            return self._tokens.ids(_clean(text), truncate=True)

    def embed_array(
        self, texts: Sequence[str], cancel: threading.Event | None = None
    ) -> NDArray[np.float32]:
        """The vectors as one (len(texts), dimensions) float32 array, rows of unit length.
        Checks ``cancel`` between decodes (raises EmbeddingCancelledError)."""
        with self._lock:
            sequences = [self._tokens.ids(_clean(t), truncate=True) for t in texts]
            return self._embed_ids(sequences, cancel)

    def embed_ids(
        self, sequences: Sequence[list[int]], cancel: threading.Event | None = None
    ) -> NDArray[np.float32]:
        """Vectors for token ids already made (``token_ids``), one row per sequence."""
        with self._lock:
            return self._embed_ids([list(s[: self._max_tokens]) for s in sequences], cancel)

    def _embed_ids(
        self, sequences: list[list[int]], cancel: threading.Event | None
    ) -> NDArray[np.float32]:
        llama = self._llama
        if llama is None:
            raise ModelLoadError("The embedding model was closed.")
        out = np.zeros((len(sequences), self._dimensions), dtype=np.float32)
        for group in _groups(sequences, self._batch_tokens, self._n_seq_max):
            if cancel is not None and cancel.is_set():
                raise EmbeddingCancelledError("Embedding was cancelled.")
            wanted = [i for i in group if sequences[i]]
            if not wanted:
                continue
            with self._native.router.listen(self.log_tail):
                vectors = self._native.sequence_embeddings(llama, [sequences[i] for i in wanted])
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            out[wanted] = vectors / norms
        return out


def benchmark_embed(
    embedder: LlamaEmbedder, texts: Sequence[str], *, rounds: int = 1
) -> EmbedTiming:
    """The raw llama.cpp rate: the texts tokenized first (not timed), then only the
    decodes and the pooled vectors' read-back, as the embedder batches them. What the
    document pipeline's throughput is compared against (bench/)."""
    import time

    sequences = [embedder.token_ids(t) for t in texts]
    tokens = sum(len(s) for s in sequences) * rounds
    started = time.perf_counter()
    for _ in range(rounds):
        embedder.embed_ids(sequences)
    seconds = time.perf_counter() - started
    return EmbedTiming(len(sequences) * rounds, tokens, seconds, embedder._batch_tokens)


def _groups(sequences: list[list[int]], budget: int, n_seq_max: int) -> list[list[int]]:
    """Indexes of ``sequences`` packed into decodes of at most ``budget`` tokens and
    ``n_seq_max`` sequences, in order; a longer sequence goes alone."""
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index, tokens in enumerate(sequences):
        size = len(tokens)
        if current and (used + size > budget or len(current) >= n_seq_max):
            groups.append(current)
            current, used = [], 0
        current.append(index)
        used += size
    if current:
        groups.append(current)
    return groups


def _clean(text: str) -> str:
    """Valid UTF-8 only (a lone surrogate becomes "?"): native tokenizers abort on less."""
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


def _find(haystack: list[int], needle: list[int]) -> int:
    for start in range(len(haystack) - len(needle) + 1):
        if haystack[start : start + len(needle)] == needle:
            return start
    return -1


def _file_id(path: Path) -> str:
    """A stable id for a GGUF file: its name, size and a hash of its head and tail (the
    same file copied elsewhere keeps it; another build of the model gets another)."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 16))
        if size > 1 << 17:
            handle.seek(size - (1 << 16))
        digest.update(handle.read(1 << 16))
    return f"{path.name}:{size}:{digest.hexdigest()[:16]}"
