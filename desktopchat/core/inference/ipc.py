"""Framing for the pipe between the app and its engine process.

A frame is a 4-byte little-endian length and a pickle. Both ends are this program (the
child is started from our own files), so pickle is safe here; token lists travel as
packed int32 arrays because a 10 MB paste is millions of tokens.
"""

from __future__ import annotations

import array
import pickle
import struct
import threading
from typing import IO, Any

_HEADER = struct.Struct("<I")
MAX_FRAME = 1 << 30


class PipeClosedError(EOFError):
    """The other end closed the pipe (or died)."""


class FrameWriter:
    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, *message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            try:
                self._stream.write(_HEADER.pack(len(data)))
                self._stream.write(data)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError) as exc:
                raise PipeClosedError(str(exc)) from None


def receive(stream: IO[bytes]) -> tuple[Any, ...]:
    header = _read_exactly(stream, _HEADER.size)
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise PipeClosedError(f"frame of {size} bytes")
    message: tuple[Any, ...] = pickle.loads(_read_exactly(stream, size))
    return message


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) < size:
        raise PipeClosedError("end of stream")
    return data


def pack_tokens(tokens: list[int]) -> bytes:
    return array.array("i", tokens).tobytes()


def unpack_tokens(data: bytes) -> list[int]:
    packed = array.array("i")
    packed.frombytes(data)
    return packed.tolist()
