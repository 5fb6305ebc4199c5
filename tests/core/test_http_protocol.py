"""The served HTTP protocol sends a response's head and body in one write, and holds nothing back."""

from __future__ import annotations

import asyncio
import functools

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from leadscore.core.http_protocol import OneWriteHttpToolsProtocol, OneWriteTransport
from leadscore.core.serve_cli import _http_protocol


class Recording(asyncio.Transport):
    """What a protocol wrote, one entry per write, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)


async def _answer(body: bytes = b'{"ok":true}', pause: float = 0.0):
    async def app(scope, receive, send):
        assert scope["type"] == "http"
        await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        if pause:
            await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": body})

    return app


async def _serve(request: bytes, app, keep_alive: bool = True) -> tuple[Recording, OneWriteHttpToolsProtocol]:
    config = Config(app, http=_http_protocol(), lifespan="off", log_level="warning")
    config.load()
    protocol = OneWriteHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = Recording()
    protocol.connection_made(transport)
    protocol.data_received(request)
    return transport, protocol


def run(test):
    """The coroutine test run to completion on a fresh event loop (as the other core tests do)."""

    @functools.wraps(test)
    def sync(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return sync


GET = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"


def test_served_protocol_is_the_one_write_protocol():
    assert _http_protocol() == "leadscore.core.http_protocol:OneWriteHttpToolsProtocol"


@run
async def test_a_response_goes_out_in_one_write_head_then_body():
    transport, protocol = await _serve(GET, await _answer())
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 11" in head
    assert body == b'{"ok":true}'
    assert not transport.closed  # kept alive for the next request
    protocol.connection_lost(None)


@run
async def test_two_requests_on_one_connection_are_two_whole_writes():
    transport, protocol = await _serve(GET, await _answer(b"first"))
    for _ in range(5):
        await asyncio.sleep(0)
    protocol.data_received(GET)
    for _ in range(5):
        await asyncio.sleep(0)
    assert [w.rpartition(b"\r\n\r\n")[2] for w in transport.writes] == [b"first", b"first"]
    protocol.connection_lost(None)


@run
async def test_a_head_whose_body_is_late_waits_for_it_but_a_streamed_head_goes_at_once():
    # With a content-length the body follows, so head and body still go out as one write.
    transport, protocol = await _serve(GET, await _answer(b"late", pause=0.1))
    await asyncio.sleep(0.05)
    assert transport.writes == []
    await asyncio.sleep(0.2)
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"\r\n\r\nlate")
    protocol.connection_lost(None)

    async def streamed(scope, receive, send):  # no content-length: chunks as they come
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"chunk", "more_body": False})

    transport, protocol = await _serve(GET, streamed)
    await asyncio.sleep(0.05)
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding: chunked" in transport.writes[0]
    await asyncio.sleep(0.3)
    assert transport.writes[1:] == [b"5\r\nchunk\r\n0\r\n\r\n"]
    protocol.connection_lost(None)


@run
async def test_a_head_response_without_a_body_write_is_sent():
    transport, protocol = await _serve(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n", await _answer())
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"\r\n\r\n")
    assert b"content-length: 11" in transport.writes[0]
    protocol.connection_lost(None)


@run
async def test_a_closing_response_is_written_before_the_close():
    transport, protocol = await _serve(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", await _answer())
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport.closed
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b'{"ok":true}')


@run
async def test_transport_sends_100_continue_at_once_and_flushes_on_close_not_on_abort():
    inner = Recording()
    transport = OneWriteTransport(inner)
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert inner.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert len(inner.writes) == 1 and transport.get_write_buffer_size() > 0  # held
    transport.close()
    assert inner.writes[1] == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n" and inner.closed

    inner = Recording()
    transport = OneWriteTransport(inner)
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    transport.abort()
    await asyncio.sleep(0)
    assert inner.writes == [] and inner.aborted  # an aborted connection sends nothing more
    assert transport.get_extra_info("peername") == ("127.0.0.1", 50000)  # the rest is the transport's


@pytest.mark.parametrize("data", [b"plain body", b"HTTP/1.1 200 OK\r\n\r\n"])
@run
async def test_whatever_is_held_keeps_its_order(data):
    inner = Recording()
    transport = OneWriteTransport(inner)
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
    transport.write(data)
    transport.write(b"after")
    assert b"".join(inner.writes) == b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n" + data + b"after"
