"""The event loop `leadscore serve` runs on: uvloop, but accepting waiting connections in batches.

Why: libuv (under uvloop) accepts one connection per loop iteration since
libuv 1.45 (libuv/libuv#3696). Under load an iteration handles hundreds of
requests and lasts tens of milliseconds, so a burst of new clients drains
from the kernel's accept queue at a few dozen per second: with 1,000
connections opening at once against a busy server, hundreds waited 5–10 s
just to be accepted (measured with `ss -lnt`: 600 connections queued on the
listening socket for the whole run), which clients see as time-outs.
asyncio's own selector loop accepts up to ``backlog`` connections per
readiness event but is slower per request. This loop keeps uvloop for the
connections and does the accepting itself, up to ``ACCEPT_BATCH`` per event.

uvicorn takes it with ``loop="leadscore.core.event_loop:new_event_loop"``.
TLS, Unix sockets and hosts resolving to several addresses keep uvloop's
own ``create_server``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import uvloop

log = logging.getLogger(__name__)

# Per readiness event; the rest wait for the next one. Small enough that two worker processes
# sharing a listening socket both get a share of a burst, large enough to drain 1,000 quickly.
ACCEPT_BATCH = 128
# Out of file descriptors: stop accepting for a moment instead of spinning on the ready socket.
RETRY_AFTER_EMFILE = 1.0


class BatchAcceptServer:
    """The part of ``asyncio.Server`` uvicorn uses, over a listening socket we accept from."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol_factory: Any) -> None:
        self._loop = loop
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._closed = loop.create_future()
        self.sockets = [sock]
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # nothing more waiting (or another worker took it)
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: back off, then listen again
                log.warning("accept failed (%s); pausing new connections for %.0f s", exc, RETRY_AFTER_EMFILE)
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(RETRY_AFTER_EMFILE, self._resume)
                return
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._protocol_factory, conn))
            task.add_done_callback(_connection_started)

    def _resume(self) -> None:
        if self.is_serving():
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def is_serving(self) -> bool:
        return not self._closed.done()

    def close(self) -> None:
        if not self.is_serving():
            return
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._closed.set_result(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)


def _connection_started(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        # The client went away between accept and the first read: nothing to answer.
        log.debug("accepted connection could not start: %s", task.exception())


class BatchAcceptLoop(uvloop.Loop):  # type: ignore[misc]  # uvloop ships no stubs for subclassing
    async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None, *,
                            sock: socket.socket | None = None, backlog: int = 100, ssl: Any = None,
                            **kwargs: Any) -> Any:
        if ssl is None and not kwargs.get("reuse_port"):
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                return BatchAcceptServer(self, _listener(sock, backlog), protocol_factory)
            if sock is None and port is not None:
                listening = _listen(host, port, backlog)
                if listening is not None:
                    return BatchAcceptServer(self, listening, protocol_factory)
        return await super().create_server(protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl,
                                           **kwargs)


def _listener(sock: socket.socket, backlog: int) -> socket.socket:
    """The socket a worker process accepts from, given the bound socket uvicorn hands every worker.

    A handed-over socket with ``SO_REUSEPORT`` (``reuse_port_socket``: `leadscore serve
    --workers N`) gets a listening socket of this worker's own on the same address, and the
    kernel spreads new connections evenly over the workers' sockets. Why: with one shared
    socket the worker waiting in epoll takes the connections while the other scores a batch, and
    keep-alive clients stay where they landed: under the benchmark's burst of 1,000 connections
    one worker got 824 and the other 176, so the busy one's clients waited far longer. Any
    other socket is listened on as it is (as asyncio does: uvicorn's workers get it bound only).
    """
    if _reuses_port(sock) and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        v6only = (sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
                  if sock.family == socket.AF_INET6 else 1)
        return _listening(_bound(sock.family, sock.getsockname(), reuse_port=True, v6only=v6only), backlog)
    sock.listen(backlog)
    return sock


def _reuses_port(sock: socket.socket) -> bool:
    return hasattr(socket, "SO_REUSEPORT") and bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))


def reuse_port_socket(host: str, port: int) -> socket.socket | None:
    """A bound, not listening, ``SO_REUSEPORT`` socket for uvicorn's worker processes to share
    (see ``_listener``); None where the platform lacks it or ``host`` names several addresses.
    Linux only: there the kernel balances connections over the sockets; BSD and macOS accept the
    option without balancing."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        return None
    found = _single_address(host, port)
    if found is None:
        return None
    sock = _bound(*found, reuse_port=True)
    sock.set_inheritable(True)
    return sock


def _listen(host: str | None, port: int, backlog: int) -> socket.socket | None:
    """A listening TCP socket for a host naming exactly one address; None to let uvloop bind several."""
    found = _single_address(host, port)
    return None if found is None else _listening(_bound(*found), backlog)


def _single_address(host: str | None, port: int) -> tuple[int, Any] | None:
    """(family, address) when ``host`` names exactly one; None when it names several."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    addresses = {(family, address) for family, _, _, _, address in infos}
    return addresses.pop() if len(addresses) == 1 else None


def _bound(family: int, address: Any, *, reuse_port: bool = False, v6only: int = 1) -> socket.socket:
    """A TCP socket bound to ``address`` (an IPv6 one for IPv6 only, unless ``v6only`` is 0)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _listening(sock: socket.socket, backlog: int) -> socket.socket:
    """``sock`` (ours) listening; closed if it cannot listen."""
    try:
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def new_event_loop() -> asyncio.AbstractEventLoop:
    return BatchAcceptLoop()
