"""Messages between a serving process and its helper processes: pickles after their length.

Both ends are this package's own processes (spawned by the served app over a socket pair), so
pickle crosses no trust boundary here.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

HEADER = struct.Struct("!Q")


def frame(message: Any) -> bytes:
    """``message`` pickled, after its length."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def read_frame(stream: BinaryIO) -> Any:
    """The next message from a blocking stream; raises EOFError when the other end closed."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    size, = HEADER.unpack(header)
    return pickle.loads(stream.read(size))


async def aread_frame(reader: asyncio.StreamReader) -> Any:
    """The next message from an asyncio stream (``asyncio.IncompleteReadError`` at its end)."""
    size, = HEADER.unpack(await reader.readexactly(HEADER.size))
    return pickle.loads(await reader.readexactly(size))


def reap(process: Any) -> None:
    """Wait a second for a helper ``multiprocessing.Process`` to exit, then kill it."""
    if process is not None:
        process.join(timeout=1)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


async def restart_after(delay: float, process: Any, closed: Callable[[], bool],
                        start: Callable[[], Awaitable[None]]) -> None:
    """After a helper died: wait ``delay`` seconds, reap it off the event loop, start a new one,
    unless the server is shutting down (``closed()``) meanwhile."""
    if closed():
        return
    await asyncio.sleep(delay)
    if closed():
        return
    await asyncio.get_running_loop().run_in_executor(None, reap, process)
    await start()
