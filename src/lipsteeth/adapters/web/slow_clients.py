"""Slow and hoarding clients (issue 17, item 12): header timeout, per-client connection caps.

Uvicorn's h11 protocol waits for ever for the head of a request, and its
``limit_concurrency`` answers 503 to everyone once that many connections are
open: 260 half-open connections denied every new request, before the token
check.  :class:`GuardedH11Protocol` gives each connection :data:`HEADER_TIMEOUT`
seconds to send a request head (again after each response on a kept-alive
connection) and lets one client address hold at most :data:`WAITING_PER_CLIENT`
new connections that have waited over :data:`GRACE` seconds for their first one: a
new connection from that address closes the oldest such one, so a flood of slow
connections pushes out its own oldest members, not the next legitimate request.
Two kinds of connection are never pushed out, because neither is slow: a kept-alive
connection between two requests of a polling client (it has its header timeout
and uvicorn's keep-alive timeout), and one whose request head has arrived but
waits in the socket for a busy event loop to read it (``FIONREAD``): 50 clients
polling together, or submitting together while the job processes held both cores,
had 3 of them closed under ``make test``.  At most
:data:`OPEN_PER_CLIENT` connections of one address are open at once; beyond, a
new one is closed unanswered.  The body has its own deadline in the app
(``app.BODY_TIMEOUT``, ``app.BodyLimit``).
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import termios
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: seconds a connection has to send a complete request head
HEADER_TIMEOUT = 10.0
#: connections of one client address still waiting to send a request head
WAITING_PER_CLIENT = 32
#: open connections of one client address
OPEN_PER_CLIENT = 512
#: seconds a new connection may wait for its first head before it counts as slow (a
#: client sends its head at once; a head already in the socket never counts as slow)
GRACE = 2.0
#: seconds uvicorn keeps an idle connection open between two requests
KEEP_ALIVE = 5

# per client address: its connections waiting for a head (oldest first), all its connections
_WAITING: dict[str, dict[GuardedH11Protocol, float]] = {}
_OPEN: dict[str, int] = {}


def unread_bytes(fileno: int) -> int:
    """Bytes that arrived on a socket and were not read yet (``FIONREAD``; 0 if unknown)."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fileno, termios.FIONREAD, count, True)
    except (OSError, ValueError):  # closed (fileno -1) or not a socket
        return 0
    return int(count[0])


class GuardedH11Protocol(H11Protocol):
    """Uvicorn's h11 protocol with a header timeout and per-client connection caps."""

    _head_timer: asyncio.TimerHandle | None = None
    _cycle_seen: Any = None
    _address = ""
    _counted = False
    _served = False  # a response was sent: between requests it is kept alive, not slow

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = str(self.client[0]) if self.client else ""
        if _OPEN.get(self._address, 0) >= OPEN_PER_CLIENT and not _WAITING.get(self._address):
            transport.close()  # this client already holds its share, all busy
            return
        _OPEN[self._address] = _OPEN.get(self._address, 0) + 1
        self._counted = True
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        if self._counted:
            self._counted = False
            left = _OPEN.get(self._address, 1) - 1
            if left > 0:
                _OPEN[self._address] = left
            else:
                _OPEN.pop(self._address, None)
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._cycle_seen:  # a request head arrived
            self._head_done()

    def on_response_complete(self) -> None:
        self._served = True
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()  # a kept-alive connection waits for its next head

    def _await_head(self) -> None:
        self._head_done()  # at most one timer and one place in the queue per connection
        self._cycle_seen = self.cycle
        self._head_timer = self.loop.call_later(HEADER_TIMEOUT, self._head_late)
        if self._served:
            return
        waiting = _WAITING.setdefault(self._address, {})
        now = self.loop.time()
        while len(waiting) >= WAITING_PER_CLIENT:
            oldest, since = next(iter(waiting.items()))
            if now - since < GRACE or oldest._unread_bytes() > 0:
                break  # none is slow yet: admit (OPEN_PER_CLIENT still bounds them)
            oldest._head_done()
            oldest.transport.close()
        waiting[self] = now

    def _unread_bytes(self) -> int:
        sock = self.transport.get_extra_info("socket")
        return 0 if sock is None else unread_bytes(sock.fileno())

    def _head_done(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        waiting = _WAITING.get(self._address)
        if waiting is not None:
            waiting.pop(self, None)
            if not waiting:
                _WAITING.pop(self._address, None)

    def _head_late(self) -> None:
        self._head_timer = None
        self._head_done()
        self.transport.close()
