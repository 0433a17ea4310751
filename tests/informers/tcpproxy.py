"""A loopback TCP proxy in front of the API server that tests can break on purpose:
freeze the open connections (bytes stop, sockets stay open: a silently dead stream), or
cut every connection and refuse new ones for a while."""

from __future__ import annotations

import asyncio


class _Link:
    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.writers = (client, upstream)
        self.flowing = asyncio.Event()
        self.flowing.set()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusing = False
        self.connections = 0

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    def freeze(self) -> None:
        """Stops forwarding on every open connection, leaving them open; new ones flow."""
        for link in self._links:
            link.flowing.clear()

    def cut(self) -> None:
        """Closes every open connection and refuses new ones until `resume`."""
        self._refusing = True
        for link in list(self._links):
            link.flowing.set()  # a frozen pump must see the close too
            for writer in link.writers:
                writer.close()

    def resume(self) -> None:
        self._refusing = False

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        # Not cancelled: asyncio logs an error for a cancelled connection handler.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self._refusing:
                return
            self.connections += 1
            up_reader, up_writer = await asyncio.open_connection(*self._target)
            link = _Link(writer, up_writer)
            self._links.add(link)
            try:
                await asyncio.gather(
                    self._pump(reader, up_writer, link), self._pump(up_reader, writer, link)
                )
            finally:
                self._links.discard(link)
                up_writer.close()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while data := await reader.read(65536):
                await link.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
