"""A transport that notes when each page of a paged read was asked for and answered, and how many were out
at once; it can also fail or hold back chosen pages, to show what the others do meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx


class PageTimes(httpx.AsyncHTTPTransport):
    """`page_of(request)` names the page (e-conomic `skippages`, vTiger's query offset); -1 for other
    requests. `delay(page)` is how long that page stays out before it is sent; `fail_page` never connects;
    when `garble(page)` says so, the server's real answer to that page reaches the client cut in half."""

    def __init__(self, page_of: Callable[[httpx.Request], int], *, fail_page: int | None = None,
                 delay: Callable[[int], float] = lambda page: 0.0,
                 garble: Callable[[int], bool] = lambda page: False) -> None:
        super().__init__()
        self.asked: dict[int, float] = {}
        self.answered: dict[int, float] = {}
        self.in_flight = self.peak = 0
        self._page_of = page_of
        self._fail_page = fail_page
        self._delay = delay
        self._garble = garble

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        page = self._page_of(request)
        if page == self._fail_page:
            raise httpx.ConnectError("the sandbox is unreachable for this page", request=request)
        self.asked[page] = time.perf_counter()
        if seconds := self._delay(page):
            await asyncio.sleep(seconds)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            response = await super().handle_async_request(request)
        finally:
            self.in_flight -= 1
        self.answered[page] = time.perf_counter()
        if self._garble(page):
            body = await response.aread()
            headers = [(name, value) for name, value in response.headers.raw if name.lower() != b"content-length"]
            return httpx.Response(response.status_code, headers=headers, content=body[:len(body) // 2])
        return response
