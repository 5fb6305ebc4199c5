"""The serving loop accepts a burst of waiting clients at once, and `leadscore serve` runs on it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from leadscore.core.event_loop import ACCEPT_BATCH, BatchAcceptServer, new_event_loop, reuse_port_socket
from tests.support.broker import BROKER


class Counting(asyncio.Protocol):
    made: list[asyncio.BaseTransport]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


def test_a_burst_of_waiting_connections_is_accepted_within_a_few_loop_iterations():
    loop = new_event_loop()
    made: list[asyncio.BaseTransport] = []
    Counting.made = made
    clients: list[socket.socket] = []

    async def scenario() -> tuple[int, int]:
        server = await loop.create_server(Counting, "127.0.0.1", 0, backlog=512)
        assert isinstance(server, BatchAcceptServer)
        port = server.sockets[0].getsockname()[1]
        # The kernel completes these handshakes without the server: all wait in its accept queue.
        clients.extend(socket.create_connection(("127.0.0.1", port)) for _ in range(ACCEPT_BATCH))
        for _ in range(6):  # stock uvloop accepts one connection per iteration: 6 here at most
            await asyncio.sleep(0)
        accepted = len(made)
        server.close()
        await server.wait_closed()
        return accepted, port

    try:
        accepted, port = loop.run_until_complete(scenario())
    finally:
        for client in clients:
            client.close()
        for transport in made:
            transport.close()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    assert accepted == ACCEPT_BATCH
    with pytest.raises(OSError):  # closed: nobody listens any more
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_a_bound_socket_handed_over_is_listened_on_and_served():
    # uvicorn --workers N binds one socket in the parent and gives each worker the bound,
    # not yet listening, socket: create_server(sock=...) must listen, as asyncio's does.
    loop = new_event_loop()
    made: list[asyncio.BaseTransport] = []
    Counting.made = made
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))

    async def scenario() -> int:
        server = await loop.create_server(Counting, sock=bound, backlog=64)
        clients = [socket.create_connection(bound.getsockname(), timeout=2) for _ in range(3)]
        for _ in range(20):
            if len(made) == 3:
                break
            await asyncio.sleep(0.01)
        for client in clients:
            client.close()
        server.close()
        await server.wait_closed()
        return len(made)

    try:
        assert loop.run_until_complete(scenario()) == 3
    finally:
        for transport in made:
            transport.close()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")
def test_workers_handed_a_reuse_port_socket_each_listen_on_their_own_and_share_the_connections():
    # `leadscore serve --workers N` hands every worker one bound SO_REUSEPORT socket; each worker's
    # loop listens on a socket of its own at that address, and the kernel spreads the clients.
    shared = reuse_port_socket("127.0.0.1", 0)
    assert shared is not None
    address = shared.getsockname()
    loops = [new_event_loop(), new_event_loop()]
    made: list[list[asyncio.BaseTransport]] = [[], []]
    servers = []
    for loop, transports in zip(loops, made, strict=True):
        protocol = type("Counted", (Counting,), {"made": transports})
        servers.append(loop.run_until_complete(loop.create_server(protocol, sock=shared, backlog=512)))
    clients: list[socket.socket] = []
    try:
        own = [server.sockets[0] for server in servers]
        assert all(sock is not shared and sock.getsockname() == address for sock in own)
        assert own[0] is not own[1]
        assert not shared.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)  # nobody accepts from it
        clients.extend(socket.create_connection(address, timeout=2) for _ in range(200))
        for _ in range(20):
            for loop in loops:
                loop.run_until_complete(asyncio.sleep(0.01))
            if sum(map(len, made)) == 200:
                break
        assert sum(map(len, made)) == 200
        assert all(len(transports) >= 40 for transports in made), [len(t) for t in made]  # ~100 each
    finally:
        for client in clients:
            client.close()
        for loop, server, transports in zip(loops, servers, made, strict=True):
            for transport in transports:
                transport.close()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()
        shared.close()


def test_leadscore_serve_answers_on_the_batch_accepting_loop(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env.update(LEADSCORE_HOME=str(tmp_path), LEADSCORE_SCHEDULER_ENABLED="false", LEADSCORE_LOG_LEVEL="WARNING",
               LEADSCORE_KEEP_ALIVE_SECONDS="1.5")
    command = [sys.executable, "-c", "from leadscore.cli import app; app()", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stdout.read().decode() if process.stdout else "no output") from None
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:  # many connections, one process
            answers = [httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code for _ in range(20)]
            assert client.get("/v1/leads").status_code == 401
        assert answers == [200] * 20
        # The idle time-out is the configured one: a connection idle for 0.5 s is still served,
        # one idle for 3 s was closed by the server (uvicorn's own default is 5 s).
        assert _idle_then_request(port, 0.5).startswith(b"HTTP/1.1 200")
        assert _idle_then_request(port, 3.0) == b""
    finally:
        process.terminate()
        process.wait(timeout=30)


def _idle_then_request(port: int, idle: float) -> bytes:
    """What the server sends for a second request on one connection left idle ``idle`` seconds
    after the first answer (b"": it had closed the connection)."""
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        assert _read_response(conn).startswith(b"HTTP/1.1 200")
        time.sleep(idle)
        try:
            conn.sendall(request)
            return _read_response(conn)
        except ConnectionResetError:
            return b""


def _read_response(conn: socket.socket) -> bytes:
    """One whole HTTP response, headers and Content-Length body (the server may send them in
    separate writes, so one recv can stop after the headers); b"" if the server closed first."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        if not chunk:
            return received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:port, from the kernel's table (state 0A is LISTEN)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == f"0100007F:{port:04X}" and row[3] == "0A")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT") or not os.path.exists("/proc/net/tcp"),
                    reason="Linux SO_REUSEPORT")
def test_leadscore_serve_with_two_workers_listens_once_per_worker(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env.update(LEADSCORE_HOME=str(tmp_path), LEADSCORE_SCHEDULER_ENABLED="false", LEADSCORE_LOG_LEVEL="WARNING",
               LEADSCORE_REDIS_URL=os.environ.get("LEADSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
               LEADSCORE_BROKER_URL=BROKER, LEADSCORE_QUEUE_NAME=f"leadscore.test.{uuid.uuid4().hex[:8]}")
    command = [sys.executable, "-c", "from leadscore.cli import app; app()", "serve", "--port", str(port),
               "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while _listeners(port) < 2:  # both workers up (each answers once it listens)
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(process.stdout.read().decode() if process.stdout else "no output")
            time.sleep(0.2)
        assert _listeners(port) == 2
        answers = [httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code for _ in range(20)]
        assert answers == [200] * 20
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert _listeners(port) == 0
