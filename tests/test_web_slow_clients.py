"""Slow clients (issue 17, item 12), on a real ``lipsteeth serve``.

With 300 connections open that send half a request head and stall (slowloris), a
legitimate client is still answered: 260 such connections made every request 503.
A trickled body is answered 408 at the body deadline.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from lipsteeth.adapters.web.app import BODY_TIMEOUT
from lipsteeth.adapters.web.slow_clients import GRACE, WAITING_PER_CLIENT

from .web_live import SERVE, LiveServer, live_server

SLOW_CONNECTIONS = 300


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("serve"), workers=1, command=SERVE) as srv:
        yield srv


def _half_open(port: int) -> socket.socket:
    """A connection that sends the start of a request head, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


def _closed(socks: list[socket.socket]) -> list[socket.socket]:
    """The sockets the server closed (readable at end of file), seen at once (epoll)."""
    with selectors.DefaultSelector() as watch:
        for sock in socks:
            watch.register(sock, selectors.EVENT_READ)
        readable = [key.fileobj for key, _ in watch.select(timeout=1.0)]
    return [s for s in readable if isinstance(s, socket.socket) and _closed_by_server(s)]


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.5)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_a_client_is_served_while_300_slow_connections_are_open(server: LiveServer) -> None:
    slow: list[socket.socket] = []
    try:
        for _ in range(SLOW_CONNECTIONS):
            slow.append(_half_open(server.port))
        time.sleep(0.5)
        with httpx.Client(base_url=server.url, timeout=5) as client:
            for _ in range(5):
                started = time.monotonic()
                r = client.get("/api/health")
                assert r.status_code == 200, r.text
                assert time.monotonic() - started < 2.0
                # a fresh connection each time, as a new visitor would open
                r = httpx.get(f"{server.url}/api/scenarios", timeout=5)
                assert r.status_code == 200, r.text
        # once they are slow (GRACE), a new connection of the same address closes them
        # down to the cap of one address's connections waiting for a head
        time.sleep(GRACE + 0.2)
        slow.append(_half_open(server.port))
        time.sleep(0.5)
        assert len(slow) - len(_closed(slow)) <= WAITING_PER_CLIENT
    finally:
        for sock in slow:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.mark.slow
def test_a_stalled_request_head_is_closed(server: LiveServer) -> None:
    from lipsteeth.adapters.web.slow_clients import HEADER_TIMEOUT

    sock = _half_open(server.port)
    try:
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        while not _closed_by_server(sock):
            assert time.monotonic() < deadline, "a stalled request head is kept open"
    finally:
        sock.close()


@pytest.mark.slow
def test_a_trickled_body_gets_408(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=BODY_TIMEOUT + 10) as sock:
        sock.sendall(
            b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        started = time.monotonic()
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert time.monotonic() - started < BODY_TIMEOUT + 5
