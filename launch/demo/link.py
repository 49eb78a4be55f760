"""A node's network link to the backend: a TCP forwarder that can be cut and restored.

The demo points one node's collector at a :class:`Link` instead of the server. While
the link is up, every connection is forwarded byte for byte to the server. ``cut()``
resets every open connection and resets each new one as soon as it is accepted, as a
dead uplink would; the collector's shipper and heartbeat really fail, the collector
keeps buffering on disk, and after ``restore()`` it delivers the backlog (backfill).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from parallax.aio import EventLoopThread

log = logging.getLogger("parallax.demo.link")
CHUNK = 65_536


class Link:
    """Forwards ``127.0.0.1:<port>`` to ``target`` (HOST:PORT) until :meth:`close`."""

    def __init__(self, target: str, name: str = "link") -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._name = name
        self._up = True
        self._connections: set[asyncio.StreamWriter] = set()
        self._loop = EventLoopThread(f"{name}-aio")
        self._server = self._loop.run(
            asyncio.start_server(self._accept, "127.0.0.1", 0, reuse_address=True)
        )
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    @property
    def up(self) -> bool:
        return self._up

    def cut(self) -> None:
        """Drop every connection; refuse new ones until :meth:`restore`."""
        self._loop.run(self._set(False))
        log.debug("%s cut: connections to %s reset", self._name, self.address)

    def restore(self) -> None:
        self._loop.run(self._set(True))
        log.debug("%s restored", self._name)

    def close(self) -> None:
        self._loop.run(self._shut())
        self._loop.close()

    async def _set(self, up: bool) -> None:
        self._up = up
        if not up:
            for writer in list(self._connections):
                writer.transport.abort()

    async def _shut(self) -> None:
        await self._set(False)
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter):
        if not self._up:
            client.transport.abort()
            return
        try:
            server_reader, server = await asyncio.open_connection(*self._target)
        except OSError:
            client.transport.abort()
            return
        self._connections.update((client, server))
        try:
            await asyncio.gather(_pump(client_reader, server), _pump(server_reader, client))
        finally:
            self._connections.difference_update((client, server))
            for writer in (client, server):
                writer.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until either side closes or the link is cut."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()
