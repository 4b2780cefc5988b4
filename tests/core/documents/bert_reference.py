"""An independent reference for the built-in embedder: BERT's forward pass in numpy.

Reads the same pinned safetensors weights the GGUF was converted from, tokenizes with the
``tokenizers`` package (the tokenizer.json sentence-transformers ships, padding off,
truncation at 256 word pieces) and computes what sentence-transformers computes for
all-MiniLM-L6-v2: embeddings (word + position + token type, layer norm), the encoder
layers (self-attention, layer norm, GELU feed-forward, layer norm), mean pooling over the
tokens and normalization. In float32 (as the checkpoint is), nothing shared with llama.cpp
or the converter.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Tokenizer

Array = NDArray[np.float32]


def _erf(x: Array) -> Array:
    """erf to ~1e-7 (Abramowitz and Stegun 7.1.26): numpy has none, and exact GELU needs it."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return np.asarray(sign * (1.0 - poly * np.exp(-a * a)), dtype=np.float32)


def _gelu(x: Array) -> Array:
    return np.asarray(0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))), dtype=np.float32)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * weight + bias, dtype=np.float32)


class BertReference:
    """all-MiniLM-L6-v2 (or any BertModel checkpoint) with mean pooling, in numpy."""

    def __init__(self, weights: Path, tokenizer: Path, config: Path, max_tokens: int = 256) -> None:
        self.w = {k: v.astype(np.float32) for k, v in load_file(str(weights)).items()}
        self.config = json.loads(config.read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)

    def token_ids(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer.encode(text).ids
        return ids

    def embed(self, text: str) -> Array:
        return np.asarray(self.forward([self.token_ids(text)])[0], dtype=np.float32)

    def embed_many(self, texts: list[str]) -> Array:
        return self.forward([self.token_ids(t) for t in texts])

    def forward(self, sequences: list[list[int]]) -> Array:
        """One unit vector per sequence of token ids. The sequences are stacked for the
        matrix products (each weight read once for all of them); attention stays within
        each sequence, so the result is each sequence's own forward pass."""
        w, c = self.w, self.config
        eps = float(c["layer_norm_eps"])
        heads = int(c["num_attention_heads"])
        bounds = np.cumsum([0, *(len(s) for s in sequences)])
        ids = [i for s in sequences for i in s]
        positions = np.concatenate([np.arange(len(s)) for s in sequences])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        n_all, width = x.shape
        d = width // heads
        for layer in range(int(c["num_hidden_layers"])):
            p = f"encoder.layer.{layer}."

            def linear(h: Array, name: str, p: str = p) -> Array:
                return np.asarray(h @ w[p + name + ".weight"].T + w[p + name + ".bias"])

            q = linear(x, "attention.self.query")
            k = linear(x, "attention.self.key")
            v = linear(x, "attention.self.value")
            context = np.empty_like(x)
            for start, end in itertools.pairwise(bounds):
                n = end - start
                qs = q[start:end].reshape(n, heads, d).transpose(1, 0, 2)
                ks = k[start:end].reshape(n, heads, d).transpose(1, 0, 2)
                vs = v[start:end].reshape(n, heads, d).transpose(1, 0, 2)
                scores = qs @ ks.transpose(0, 2, 1) / math.sqrt(d)
                scores -= scores.max(axis=-1, keepdims=True)
                probs = np.exp(scores)
                probs /= probs.sum(axis=-1, keepdims=True)
                context[start:end] = (probs @ vs).transpose(1, 0, 2).reshape(n, width)
            x = _layer_norm(
                x + linear(context, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            hidden = _gelu(linear(x, "intermediate.dense"))
            x = _layer_norm(
                x + linear(hidden, "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                eps,
            )
        pooled = np.stack([x[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)])
        assert n_all == bounds[-1]
        return np.asarray(pooled / np.linalg.norm(pooled, axis=1, keepdims=True), dtype=np.float32)
