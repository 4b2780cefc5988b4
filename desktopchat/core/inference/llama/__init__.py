"""The llama.cpp adapter: everything that knows llama.cpp.

- native.py: the only module that imports llama_cpp (the library, its log router, loading)
- engine.py: LlamaEngine, one loaded model and its replies (the Engine protocol)
- context.py: the KV context: one-token decode, clearing, saving and restoring state
- backends.py: which build runs (backends, CPU features) and the GPUs it can use
- failures.py: why a load failed, from llama.cpp's log (out of memory or not)
- grammar.py: JSON grammars for JSON mode, kept per engine
- benchmark.py: the raw timings ``python -m bench`` compares with

Only the engine process, the CLI and the composition root import this package; the
window process never does (tests/test_layers.py enforces it).
"""

from desktopchat.core.inference.llama.engine import LlamaEngine

__all__ = ["LlamaEngine"]
