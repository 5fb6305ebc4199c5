"""uvicorn's httptools protocol, sending a response's head and body in one write.

Why: uvicorn writes a response's status line and headers when the app sends
``http.response.start`` and the body when it sends ``http.response.body``,
each with its own ``transport.write``; uvloop sends every write at once, so an
ordinary response cost two ``send`` system calls and went out as two TCP
segments, which the client's kernel and HTTP parser handle separately too.
Under the stateless-scoring load the two writes were the biggest single item
of the API process's time. Here the connection's transport holds a write that
ends a response head and sends it with the next write, the body, as one.

Nothing is reordered and nothing is held past its response: only a head that
announces a ``content-length`` is held (a streamed, chunked response's head
goes out at once), and it goes out with the next write, when the response is
complete (a HEAD response has no body write), or before the transport closes.
Nothing is scheduled on the event loop per response.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class OneWriteTransport:
    """A connection's transport that sends a response head together with what follows it."""

    __slots__ = ("_transport", "_held")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n" and b"\r\ncontent-length:" in data:
            # A response head (uvicorn writes one whole, in one call, header names in lower
            # case) whose body has a known length, so it follows. 100 Continue has none and is
            # sent at once: the client waits for it before it sends the body.
            self._held = data
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:  # is_closing, pause_reading, get_extra_info, ...
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` on a ``OneWriteTransport``; everything else is uvicorn's."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWriteTransport(transport))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]  # a HEAD response's head
        super().on_response_complete()
