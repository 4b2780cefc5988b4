"""A BERT sentence-embedding model's safetensors to a GGUF file llama.cpp embeds with.

The only module that imports ``gguf`` (the writer) and ``safetensors``. Written for the
built-in embedder (all-MiniLM-L6-v2, see core/documents/default_embedder.py) and for any
other ``BertModel`` checkpoint of the same layout. What llama.cpp needs, as checked on these
machines (DESIGN §9):

- the ``bert.*`` hyper-parameters (context, embedding and feed-forward lengths, heads,
  blocks, the layer-norm epsilon), non-causal attention and ``bert.pooling_type`` (mean,
  as the model's sentence-transformers pooling says), so it pools without being told;
- the WordPiece vocabulary rewritten as llama.cpp's own converter writes it: ``[X]``
  control tokens as they are, ``##x`` continuations as ``x``, every other token with a
  ``▁`` (U+2581) prefix; ``tokenizer.ggml.token_type_count = 2``;
- norms, biases, position and token-type embeddings in f32; the matrices in f16 (or
  q8_0); ``position_ids`` and the unused ``pooler.*`` left out.

The Hugging Face tokenizer (``tokenizer.json``) travels inside the file under
``tokenizer.huggingface.json``: the engine tokenizes with it (llama.cpp's WordPiece loses
Korean jamo) and needs nothing but the one file. The output is written to a ``.partial``
file and renamed, so a reader never sees half a model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from safetensors import safe_open

from desktopchat.core.errors import DesktopChatError

ARCH = "bert"
EMBEDDER_ID_KEY = "desktopchat.embedder.id"  # our own key: the model id vectors are stored under
HF_TOKENIZER_KEY = "tokenizer.huggingface.json"
MAX_TOKENS_KEY = "desktopchat.embedder.max_tokens"  # sentence-transformers' max_seq_length
_POOLING = {"mean": gguf.PoolingType.MEAN, "cls": gguf.PoolingType.CLS}
_TYPES = {
    "f32": gguf.GGMLQuantizationType.F32,
    "f16": gguf.GGMLQuantizationType.F16,
    "q8_0": gguf.GGMLQuantizationType.Q8_0,
}
_FILE_TYPES = {
    "f32": gguf.LlamaFileType.ALL_F32,
    "f16": gguf.LlamaFileType.MOSTLY_F16,
    "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
}
_SKIPPED = ("embeddings.position_ids", "pooler.")
_KEEP_F32 = ("token_embd_norm", "position_embd", "token_types", "_norm")


class ConversionError(DesktopChatError):
    """The checkpoint cannot be converted (a missing file, an unexpected tensor)."""


@dataclass(frozen=True)
class ConversionResult:
    path: Path
    tensors: int
    parameters: int
    n_bytes: int


@dataclass(frozen=True)
class BertSource:
    """The files of a sentence-transformers BERT checkpoint."""

    folder: Path

    @property
    def weights(self) -> Path:
        return self.folder / "model.safetensors"

    @property
    def tokenizer(self) -> Path:
        return self.folder / "tokenizer.json"

    def config(self) -> dict[str, Any]:
        return _read_json(self.folder / "config.json")

    def pooling(self) -> str:
        path = self.folder / "1_Pooling" / "config.json"
        if not path.is_file():
            return "mean"
        config = _read_json(path)
        if config.get("pooling_mode_cls_token"):
            return "cls"
        if config.get("pooling_mode_mean_tokens", True):
            return "mean"
        raise ConversionError(f"{path} asks for a pooling llama.cpp does not offer.")

    def max_seq_length(self) -> int | None:
        path = self.folder / "sentence_bert_config.json"
        if not path.is_file():
            return None
        value = _read_json(path).get("max_seq_length")
        return value if isinstance(value, int) and value > 0 else None


def wordpiece_to_llama(token: str) -> str:
    """One WordPiece vocabulary entry as llama.cpp's WPM tokenizer expects it."""
    if token.startswith("[") and token.endswith("]"):
        return token
    if token.startswith("##"):
        return token[2:]
    return "\u2581" + token


def convert_bert(
    source: BertSource,
    output: Path,
    *,
    embedder_id: str = "",
    name: str = "",
    licence: str = "",
    source_url: str = "",
    weight_type: str = "f16",
    embed_tokenizer: bool = True,
) -> ConversionResult:
    """Write ``output`` (atomically) from ``source``; returns what was written.
    ``embed_tokenizer`` False leaves the Hugging Face tokenizer out (llama.cpp's own
    WordPiece is used then, as for a GGUF from elsewhere)."""
    if weight_type not in _TYPES:
        raise ConversionError(f"Unknown weight type {weight_type!r}: f32, f16 or q8_0.")
    for needed in (source.weights, source.tokenizer, source.folder / "config.json"):
        if not needed.is_file():
            raise ConversionError(f"{needed} is missing; the model cannot be converted.")
    config = source.config()
    if config.get("model_type") != "bert":
        raise ConversionError(
            f"{source.folder} holds a {config.get('model_type')!r} model, not BERT."
        )
    tokenizer_text = source.tokenizer.read_text(encoding="utf-8")
    vocab, special = _vocabulary(tokenizer_text)
    if len(vocab) != config["vocab_size"]:
        raise ConversionError(
            f"The tokenizer has {len(vocab)} tokens but the model {config['vocab_size']}."
        )
    blocks = int(config["num_hidden_layers"])
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f"{output.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(str(partial), ARCH)
    try:
        _metadata(
            writer,
            config,
            source,
            name=name,
            licence=licence,
            source_url=source_url,
            weight_type=weight_type,
            embedder_id=embedder_id,
        )
        writer.add_tokenizer_model("bert")
        writer.add_token_list(vocab)
        writer.add_token_types(
            [
                gguf.TokenType.CONTROL if token in special else gguf.TokenType.NORMAL
                for token in vocab
            ]
        )
        writer.add_token_type_count(int(config.get("type_vocab_size", 2)))
        ids = {token: index for index, token in enumerate(vocab)}
        for key, token in (
            ("bos", "[CLS]"),
            ("unk", "[UNK]"),
            ("sep", "[SEP]"),
            ("pad", "[PAD]"),
            ("mask", "[MASK]"),
        ):
            if token in ids:
                getattr(writer, f"add_{key}_token_id")(ids[token])
        writer.add_add_bos_token(True)
        if embed_tokenizer:
            writer.add_string(HF_TOKENIZER_KEY, tokenizer_text)
        tensors = parameters = 0
        for gguf_name, array in _tensors(source.weights, blocks, weight_type):
            writer.add_tensor(gguf_name, array, raw_dtype=_raw_type(gguf_name, weight_type))
            tensors += 1
            parameters += int(np.prod(_logical_shape(gguf_name, array, weight_type)))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(partial, output)
    return ConversionResult(output, tensors, parameters, output.stat().st_size)


def _metadata(
    writer: gguf.GGUFWriter,
    config: dict[str, Any],
    source: BertSource,
    *,
    name: str,
    licence: str,
    source_url: str,
    weight_type: str,
    embedder_id: str,
) -> None:
    writer.add_name(name or source.folder.name)
    if licence:
        writer.add_license(licence)
    if source_url:
        writer.add_source_url(source_url)
    writer.add_file_type(_FILE_TYPES[weight_type])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(_POOLING[source.pooling()])
    max_tokens = source.max_seq_length()
    if max_tokens:
        writer.add_uint32(MAX_TOKENS_KEY, max_tokens)
    if embedder_id:
        writer.add_string(EMBEDDER_ID_KEY, embedder_id)


def _vocabulary(tokenizer_text: str) -> tuple[list[str], set[str]]:
    """The rewritten vocabulary in id order, and the control tokens (rewritten too)."""
    try:
        data = json.loads(tokenizer_text)
        model = data["model"]
        table: dict[str, int] = model["vocab"]
    except (ValueError, KeyError, TypeError):
        raise ConversionError("tokenizer.json holds no WordPiece vocabulary.") from None
    if model.get("type") != "WordPiece":
        raise ConversionError(f"tokenizer.json holds a {model.get('type')} model, not WordPiece.")
    vocab = [""] * len(table)
    for token, index in table.items():
        if not 0 <= index < len(vocab) or vocab[index]:
            raise ConversionError("tokenizer.json's vocabulary ids are not 0..n-1.")
        vocab[index] = token
    special = {t["content"] for t in data.get("added_tokens", ()) if t.get("special")}
    return [wordpiece_to_llama(t) for t in vocab], {wordpiece_to_llama(t) for t in special}


def _tensors(weights: Path, blocks: int, weight_type: str) -> Iterator[tuple[str, Any]]:
    names = gguf.TensorNameMap(gguf.MODEL_ARCH.BERT, blocks)
    with safe_open(str(weights), "numpy") as handle:
        for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
            if key.startswith(_SKIPPED):
                continue
            gguf_name = names.get_name(key, try_suffixes=(".weight", ".bias"))
            if gguf_name is None:
                raise ConversionError(f"The checkpoint has a tensor llama.cpp cannot place: {key}.")
            data = np.asarray(handle.get_tensor(key), dtype=np.float32)
            kind = _raw_type(gguf_name, weight_type)
            if kind == gguf.GGMLQuantizationType.F32:
                yield gguf_name, data
            elif kind == gguf.GGMLQuantizationType.F16:
                yield gguf_name, data.astype(np.float16)
            else:
                yield gguf_name, gguf.quants.quantize(data, kind)


def _raw_type(gguf_name: str, weight_type: str) -> gguf.GGMLQuantizationType:
    base = gguf_name.removesuffix(".weight").removesuffix(".bias")
    if gguf_name.endswith(".bias") or base.endswith(_KEEP_F32) or weight_type == "f32":
        return gguf.GGMLQuantizationType.F32
    return _TYPES[weight_type]


def _logical_shape(gguf_name: str, array: Any, weight_type: str) -> tuple[int, ...]:
    kind = _raw_type(gguf_name, weight_type)
    if kind in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
        return tuple(array.shape)
    block, type_size = gguf.GGML_QUANT_SIZES[kind]
    return (*array.shape[:-1], array.shape[-1] // type_size * block)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConversionError(f"Cannot read {path}: {exc}.") from None
    if not isinstance(data, dict):
        raise ConversionError(f"{path} is not a JSON object.")
    return data
