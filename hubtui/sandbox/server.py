"""Run the sandbox vTiger and e-conomic with uvicorn inside the running event loop.

    async with serve_sandboxes(SandboxOptions(companies=500)) as sandbox:
        ...  # sandbox.vtiger_url, sandbox.economic_url, sandbox.vtiger.faults.burst_429 = 3, ...

Port layout: each system gets its own port on 127.0.0.1 (free ports by default). `serve_forever(port)`,
behind `hubtui sandbox serve --port N`, puts vTiger on N and e-conomic on N+1:

    vTiger REST        http://127.0.0.1:N/restapi/v1/vtiger/default/...   (HTTP Basic)
    vTiger webservice  http://127.0.0.1:N/webservice.php                  (getchallenge/login)
    e-conomic          http://127.0.0.1:N+1/customers, /orders/drafts, /self, ...
    controls           /_sandbox/faults (GET/POST), /_sandbox/writes, /_sandbox/reset-log on both ports

The credentials below are fixed demo values that only these sandboxes accept.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp

from hubtui.sandbox.economic.app import create_economic_app
from hubtui.sandbox.economic.state import ECONOMIC_APP_SECRET, ECONOMIC_GRANT, EconomicState
from hubtui.sandbox.faults import EconomicFaults, VtigerFaults
from hubtui.sandbox.remote_data import RemoteData, build_remote_data
from hubtui.sandbox.vtiger.app import create_vtiger_app
from hubtui.sandbox.vtiger.auth import VTIGER_ACCESS_KEY, VTIGER_USERNAME
from hubtui.sandbox.vtiger.protocol import REST_PREFIX
from hubtui.sandbox.vtiger.state import VtigerState

SANDBOX_VTIGER_USERNAME = VTIGER_USERNAME
SANDBOX_VTIGER_ACCESS_KEY = VTIGER_ACCESS_KEY
SANDBOX_ECONOMIC_APP_SECRET = ECONOMIC_APP_SECRET
SANDBOX_ECONOMIC_GRANT = ECONOMIC_GRANT


@dataclass
class SandboxOptions:
    """How to start the sandboxes. `data` overrides `companies`/`seed`; the sandboxes never modify it, so
    one big data set (`build_remote_data(100_000)`) can serve many sandboxes in a benchmark."""

    companies: int = 200
    seed: int = 2026
    vtiger_faults: VtigerFaults = field(default_factory=VtigerFaults)
    economic_faults: EconomicFaults = field(default_factory=EconomicFaults)
    data: RemoteData | None = None
    host: str = "127.0.0.1"


@dataclass
class RunningSandbox:
    vtiger_url: str
    economic_url: str
    vtiger: VtigerState
    economic: EconomicState
    data: RemoteData

    @property
    def vtiger_rest_url(self) -> str:
        return f"{self.vtiger_url}{REST_PREFIX}"

    def env(self) -> dict[str, str]:
        """Settings that point hubtui at this sandbox (the names `hubtui.config.Settings` reads)."""
        return {
            "VTIGER_URL": self.vtiger_url,
            "VTIGER_USERNAME": SANDBOX_VTIGER_USERNAME,
            "VTIGER_API_KEY": SANDBOX_VTIGER_ACCESS_KEY,
            "ECONOMIC_API_URL": self.economic_url,
            "ECONOMIC_APP_SECRET_TOKEN": SANDBOX_ECONOMIC_APP_SECRET,
            "ECONOMIC_AGREEMENT_GRANT_TOKEN": SANDBOX_ECONOMIC_GRANT,
        }


class _Server:
    """One uvicorn server on an already bound socket, started and stopped without touching signals."""

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        # log_config=None: uvicorn must not reconfigure logging under a Textual app or pytest.
        config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None,
                                timeout_graceful_shutdown=1, timeout_keep_alive=5)
        config.load()
        self.server = uvicorn.Server(config)
        self.server.lifespan = config.lifespan_class(config)
        self.sock = sock
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.server.startup(sockets=[self.sock])
        # main_loop only keeps the Date header fresh and watches should_exit; no signal handlers involved.
        self._ticker = asyncio.create_task(self.server.main_loop())

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._ticker is not None:
            await self._ticker
        await self.server.shutdown(sockets=[self.sock])


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not the default 0: asyncio only sets TCP_NODELAY on an accepted connection whose socket
    # says it is TCP (`base_events._set_nodelay`), and accepted sockets copy the listener's protocol. Without
    # it Nagle's algorithm holds back the body written after the headers until the client's delayed ACK,
    # ~40 ms on every small answer. TCP_NODELAY on the listener too: Linux passes it on to accepted sockets.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve_sandboxes(options: SandboxOptions | None = None, *, vtiger_port: int = 0,
                          economic_port: int = 0) -> AsyncIterator[RunningSandbox]:
    """Start both sandboxes (port 0 = any free port); stop them, hanging requests included, on exit."""
    options = options or SandboxOptions()
    data = options.data or build_remote_data(options.companies, options.seed)
    vtiger = VtigerState(data, options.vtiger_faults)
    economic = EconomicState(data, options.economic_faults)
    vtiger_sock = _bind(options.host, vtiger_port)
    try:
        economic_sock = _bind(options.host, economic_port)
    except OSError:
        vtiger_sock.close()
        raise
    servers = [_Server(create_vtiger_app(vtiger), vtiger_sock),
               _Server(create_economic_app(economic), economic_sock)]
    started: list[_Server] = []
    try:
        for server in servers:
            await server.start()
            started.append(server)
        yield RunningSandbox(
            vtiger_url=_url(vtiger_sock), economic_url=_url(economic_sock),
            vtiger=vtiger, economic=economic, data=data,
        )
    finally:
        vtiger.closing.set()
        economic.closing.set()
        await asyncio.gather(*(server.stop() for server in started), return_exceptions=True)
        for sock in (vtiger_sock, economic_sock):
            sock.close()


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


async def serve_forever(port: int, options: SandboxOptions | None = None, *,
                        on_ready: Callable[[RunningSandbox], None] | None = None) -> None:
    """Serve vTiger on `port` and e-conomic on `port + 1` until cancelled (Ctrl+C under asyncio.run)."""
    async with serve_sandboxes(options, vtiger_port=port, economic_port=port + 1) as sandbox:
        if on_ready is not None:
            on_ready(sandbox)
        await asyncio.Event().wait()
