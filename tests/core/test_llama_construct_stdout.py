"""Building a chat model and an embedding model at once, in two threads, leaves this
process's stdout where it was. llama-cpp-python points fd 1 and 2 and sys.stdout/stderr
at /dev/null while it builds a Llama and puts back what it found; two builds at once
left stdout on /dev/null for good (the CLI's and the benchmarks' output vanished). Real
llama.cpp on the starter model and the built-in embedder."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from desktopchat.core.inference.llama.native import NativeLlama

ROUNDS = 4


def test_two_models_built_at_once_leave_stdout_alone(
    starter_model: Path, embedder_model: Path
) -> None:
    native = NativeLlama()
    stdout, stderr = sys.stdout, sys.stderr
    fd1, fd2 = os.fstat(1), os.fstat(2)
    built: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def chat() -> None:
        try:
            for _ in range(ROUNDS):
                start.wait()
                llama = native.construct(
                    str(starter_model),
                    n_ctx=256,
                    n_batch=64,
                    n_threads=1,
                    n_gpu_layers=0,
                    flash_attn=False,
                    kv_cache_type="f16",
                    verbose=False,
                    progress=lambda _fraction: None,
                )
                built.append(llama)
                llama.close()
        except BaseException as exc:
            errors.append(exc)

    def embed() -> None:
        try:
            for _ in range(ROUNDS):
                start.wait()
                llama = native.construct_embedder(
                    str(embedder_model), n_ctx=256, n_batch=256, n_threads=1
                )
                built.append(llama)
                llama.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=chat), threading.Thread(target=embed)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    assert len(built) == 2 * ROUNDS
    assert sys.stdout is stdout and sys.stderr is stderr
    after1, after2 = os.fstat(1), os.fstat(2)
    assert (after1.st_dev, after1.st_ino) == (fd1.st_dev, fd1.st_ino)
    assert (after2.st_dev, after2.st_ino) == (fd2.st_dev, fd2.st_ino)
