"""Moved to the package desktopchat.core.inference.llama; this name stays only until
tests/conftest.py and bench/harness.py import LlamaEngine from there."""

from desktopchat.core.inference.llama import LlamaEngine

__all__ = ["LlamaEngine"]
