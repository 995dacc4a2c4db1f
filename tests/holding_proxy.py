"""A TCP proxy that loses one answer: the request reaches the server and is applied, its answer never
reaches hubtui, as when a connection dies or the process is killed while the answer is on its way."""

from __future__ import annotations

import asyncio


class HoldingProxy:
    """TCP proxy to `upstream`; the answer to the request that starts with `marker` (by default
    `POST /orders/drafts`) never reaches the client."""

    def __init__(self, upstream: str, marker: bytes = b"POST /orders/drafts ") -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.marker = marker
        self.held = asyncio.Event()  # set once the answer to the marked request arrived here (and stayed)
        self.held_bytes = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        self._writers += [client_writer, upstream_writer]
        holding = False

        async def requests() -> None:
            nonlocal holding
            while data := await client_reader.read(65536):
                # HTTP/1.1 without pipelining: everything the server sends after this is the answer to it.
                if self.marker in data:
                    holding = True
                upstream_writer.write(data)
                await upstream_writer.drain()
            upstream_writer.close()

        async def answers() -> None:
            while data := await upstream_reader.read(65536):
                if holding:
                    self.held_bytes += len(data)
                    self.held.set()
                    continue
                client_writer.write(data)
                await client_writer.drain()
            client_writer.close()

        await asyncio.gather(requests(), answers(), return_exceptions=True)
