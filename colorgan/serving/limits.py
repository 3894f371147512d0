"""What keeps one server up under large, slow or many requests: the limits of the web app, in one place.

- the request body: a limit counted while it is read (413; a declared Content-Length over it is refused before
  a byte is read) and read timeouts (408): the whole body within ``body_s``, no pause longer than ``idle_s``;
- the request head: within ``header_s`` of connecting (or of the previous response), else the connection is
  closed; idle keep-alive connections close after ``keep_alive_s``; at most ``max_connections`` at once (503);
- memory: the pixels being decoded and colorized at once are bounded by a budget (one 50 MP photo, or many small
  ones); a request that cannot start within ``queue_s`` gets 503 with Retry-After; freed memory is handed back
  to the system after each request (glibc's malloc_trim).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from colorgan.data import images

MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file in a multipart body


@dataclass(frozen=True)
class Limits:
    """The server's limits (docs/reference/serving-api.md): not hyper-parameters, the bounds of one process's
    resources."""

    body_s: float = 60.0  # the whole request body must arrive within this (408)
    idle_s: float = 10.0  # ... with no pause longer than this (408)
    header_s: float = 10.0  # the request line and headers must arrive within this, else the connection closes
    keep_alive_s: int = 5  # an idle keep-alive connection closes after this
    max_header_bytes: int = 16 * 1024  # request line + headers (h11): larger is a 400
    max_connections: int = 64  # more at once get 503 (uvicorn limit_concurrency)
    pixel_budget: int = images.MAX_PIXELS  # pixels decoded/colorized at once: one 50 MP photo or many small ones
    queue_s: float = 30.0  # a request that cannot start within this gets 503 + Retry-After
    retry_after_s: int = 15  # what that 503 tells the client


class Busy(HTTPException):
    """The pixel budget stayed full for queue_s: 503 with Retry-After."""

    def __init__(self, limits: Limits):
        super().__init__(503, f"the server is busy with other large photos; try again in {limits.retry_after_s} s",
                         headers={"Retry-After": str(limits.retry_after_s)})


class PixelBudget:
    """At most ``limits.pixel_budget`` pixels in work at once; waiting is bounded by ``limits.queue_s``."""

    def __init__(self, limits: Limits):
        self.limits, self.in_use = limits, 0
        self._changed: asyncio.Condition | None = None  # made in the server's event loop, on first use

    @asynccontextmanager
    async def hold(self, pixels: int):
        pixels = min(pixels, self.limits.pixel_budget)  # one photo over the budget still runs, alone
        self._changed = self._changed or asyncio.Condition()
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.in_use + pixels <= self.limits.pixel_budget),
                    self.limits.queue_s)
            except TimeoutError:
                raise Busy(self.limits) from None
            self.in_use += pixels
        try:
            yield
        finally:
            async with self._changed:
                self.in_use -= pixels
                self._changed.notify_all()


class BodyLimit:
    """ASGI middleware: the request body limit and read timeouts, enforced while the body is read (before any
    form parsing keeps it): a declared Content-Length over the limit is answered 413 at once; a body that grows
    past it is cut off with 413; one that arrives too slowly gets 408. These answers close the connection."""

    def __init__(self, app, max_body: int, limits: Limits):
        self.app, self.max_body, self.limits = app, max_body, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            return await _refuse(send, 413, f"the upload is {_megabytes(declared)}, over the "
                                            f"{self.max_body / 2**20:.0f} MB limit")
        deadline, size, done = time.monotonic() + self.limits.body_s, 0, False

        async def limited_receive():
            nonlocal size, done
            if done:  # the body is in: what follows (a disconnect) has no deadline
                return await receive()
            left = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, min(self.limits.idle_s, left)))
            except TimeoutError:
                raise HTTPException(408, f"the upload was too slow: the whole request must arrive within "
                                         f"{self.limits.body_s:g} s, with no pause over {self.limits.idle_s:g} s",
                                    headers={"Connection": "close"}) from None
            done = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_body:
                    raise HTTPException(413, f"the upload is over the {self.max_body / 2**20:.0f} MB limit",
                                        headers={"Connection": "close"})
            return message

        await self.app(scope, limited_receive, send)


def _megabytes(size: int) -> str:
    return f"{size / 2**30:,.1f} GB" if size >= 2**30 else f"{size / 2**20:.1f} MB"


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def release_memory() -> None:
    """Hand freed heap memory back to the system (glibc keeps it for reuse otherwise); a no-op elsewhere."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head: a client that opens a connection (or keeps
    one after a response) and trickles its headers is closed after ``header_s``; uvicorn has no such timeout."""

    header_s = Limits.header_s

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        self._arm_header_deadline()  # before super(): a pipelined request starts a new cycle inside it
        super().on_response_complete()

    def _arm_header_deadline(self) -> None:
        self.loop.call_later(self.header_s, self._header_deadline, self.cycle)

    def _header_deadline(self, cycle) -> None:
        if self.cycle is cycle and not self.transport.is_closing():  # no new request's head since arming
            self.transport.close()


def server_config(app, host: str, port: int, limits: Limits | None = None,
                  log_level: str = "info") -> uvicorn.Config:
    """The uvicorn settings that go with the limits (the CLI and the tests start the server with these)."""
    limits = limits or Limits()
    protocol = type("Protocol", (_Protocol,), {"header_s": limits.header_s})
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=protocol,
                          timeout_keep_alive=limits.keep_alive_s, limit_concurrency=limits.max_connections,
                          h11_max_incomplete_event_size=limits.max_header_bytes)
