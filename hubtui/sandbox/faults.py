"""What happens to a request before a fake service sees it: fault injection, counting and the write log.

Each sandbox app is wrapped in `SandboxMiddleware`, which for every API request (never for the
`/_sandbox/...` control endpoints):

1. counts it (`state.request_count`),
2. records it in `state.write_log` when it is a write (body parsed, secrets redacted, headers never kept),
3. asks the state whether to admit it (vTiger flood control lives there) and adds its headers,
4. applies the faults in this order: `timeout_next` (hang), `burst_429`, `error_rate` (500),
   `malformed_next` (200 with a broken JSON body). A request hit by a fault is not executed, so a retry is
   always safe.
5. holds the answer back until latency + jitter have passed since the request arrived. The latency is the
   service's whole answer time, as a client sees it from a real service: the sandbox's own work happens
   inside it rather than on top, so a 20 ms sandbox answers in 20 ms however fast this machine runs it.

Faults are plain mutable dataclasses, one per system, so they can be changed from Python
(`sandbox.vtiger.faults.burst_429 = 3`), over HTTP (`POST /_sandbox/faults {"burst_429": 3}`) and from the
command line (`faults_from_options`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/_sandbox"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Body fields that authenticate a caller: never kept in the write log.
REDACTED_FIELDS = frozenset({"accessKey", "sessionName", "access_key", "password"})


@dataclass
class Faults:
    """Misbehaviour shared by both fake services. Counters (`*_next`, `burst_429`) count down per request."""

    latency_ms: int = 0  # from a request's arrival to its answer, the sandbox's own work included
    jitter_ms: int = 0
    error_rate: float = 0.0
    burst_429: int = 0
    retry_after_s: int = 1
    timeout_next: int = 0
    # Longer than any sane client timeout; the hang ends early when the client gives up or the server stops.
    hang_s: float = 60.0
    malformed_next: int = 0


@dataclass
class VtigerFaults(Faults):
    """vTiger: the shared faults plus flood control and session lifetimes (real defaults are generous)."""

    flood_limit: int = 1200
    flood_window_s: float = 60.0
    daily_limit: int = 100_000
    session_idle_s: float = 1800.0
    session_max_s: float = 86_400.0


@dataclass
class EconomicFaults(Faults):
    """e-conomic: the shared faults plus the array form of `errors` in 400 bodies (seen in the wild)."""

    errors_as_array: bool = False


def update_faults(faults: Faults, changes: Mapping[str, Any]) -> None:
    """Set fields from a mapping (JSON body, CLI). Bad names or types raise ValueError and set nothing."""
    known = {f.name: f for f in dataclasses.fields(faults)}
    converted: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in known:
            raise ValueError(f"unknown fault setting '{name}' (known: {', '.join(sorted(known))})")
        converted[name] = _convert(name, type(getattr(faults, name)), value)
    for name, value in converted.items():
        setattr(faults, name, value)


def _convert(name: str, kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ValueError(f"{name} must be true or false")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a {kind.__name__}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    if name == "error_rate" and number > 1:
        raise ValueError("error_rate must be between 0 and 1")
    return number


def faults_to_json(faults: Faults) -> dict[str, Any]:
    return dataclasses.asdict(faults)


def faults_from_options(options: list[str]) -> tuple[VtigerFaults, EconomicFaults]:
    """Faults from command-line options like `vtiger.latency_ms=200` or `economic.error_rate=0.1`.

    Raises ValueError naming the option when the system, the name or the value is wrong."""
    faults: dict[str, Faults] = {"vtiger": VtigerFaults(), "economic": EconomicFaults()}
    for option in options:
        target, sep, value = option.partition("=")
        system, dot, name = target.partition(".")
        if not sep or not dot or system not in faults:
            raise ValueError(f"'{option}' is not vtiger.NAME=VALUE or economic.NAME=VALUE")
        update_faults(faults[system], {name: value})
    vtiger, economic = faults["vtiger"], faults["economic"]
    assert isinstance(vtiger, VtigerFaults) and isinstance(economic, EconomicFaults)
    return vtiger, economic


@dataclass
class LoggedWrite:
    """One write request as the sandbox received it (never its headers: they hold the secrets)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    time: str
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Admission = tuple[Response | None, list[tuple[bytes, bytes]]]


class SandboxState:
    """What both fake services share: faults, counters, the write log. Subclasses hold the records."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.write_log: list[LoggedWrite] = []
        self.request_count = 0
        self.rng = random.Random(2026)
        # Set when the server stops, so hanging requests end at once instead of holding up shutdown.
        self.closing = asyncio.Event()

    def reset_log(self) -> None:
        self.write_log.clear()
        self.request_count = 0

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    # Hooks the apps override.
    def actions(self) -> dict[str, Callable[[], None]]:
        """One-shot actions `POST /_sandbox/faults` accepts as `{"<name>": true}` (e.g. expire_sessions)."""
        return {}

    def is_write(self, method: str, path: str, body: Any) -> bool:
        return method in WRITE_METHODS

    def admit(self, scope: Scope) -> Admission:
        return None, []

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        body = {"message": message, "httpStatusCode": status}
        return JSONResponse(body, status_code=status, headers=headers)


def json_bytes(value: Any) -> bytes:
    """``value`` as the exact bytes a Starlette ``JSONResponse`` would send, so the apps can cache the
    encoded form of a record and join cached pieces into a body no different from an encoded whole."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def parse_body(content_type: str, raw: bytes) -> Any:
    """The body as a client meant it: JSON, or a form whose JSON-looking `element` field is decoded."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return redact(json.loads(text))
        except ValueError:
            return text
    if "form-urlencoded" in content_type:
        form: dict[str, Any] = dict(parse_qsl(text, keep_blank_values=True))
        if isinstance(form.get("element"), str):
            with contextlib.suppress(ValueError):
                form["element"] = json.loads(form["element"])
        return redact(form)
    return text


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in REDACTED_FIELDS else redact(v)) for k, v in value.items()}
    return value


class SandboxMiddleware:
    """Pure ASGI middleware (not BaseHTTPMiddleware) so a hanging request can watch for the client leaving."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state
        state.request_count += 1
        raw, replay = await _buffer_body(receive)
        method = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = parse_body(headers.get("content-type", ""), raw)
        query = redact(dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))))
        entry: LoggedWrite | None = None
        if state.is_write(method, scope["path"], body):
            entry = LoggedWrite(method, scope["path"], query, body, datetime.now(UTC).isoformat())
            state.write_log.append(entry)

        rejection, extra_headers = state.admit(scope)
        faults = state.faults
        delay_ms = faults.latency_ms + (state.rng.uniform(0, faults.jitter_ms) if faults.jitter_ms else 0)
        loop = asyncio.get_running_loop()
        answer_at = loop.time() + delay_ms / 1000

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                if (wait := answer_at - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if entry is not None:
                    entry.status = message["status"]
                if extra_headers:
                    message = {**message, "headers": [*message.get("headers", []), *extra_headers]}
            await send(message)

        if rejection is None:
            rejection = await self._apply_faults(receive)
        if rejection is not None:
            await rejection(scope, replay, send_logged)
            return
        await self.app(scope, replay, send_logged)

    async def _apply_faults(self, receive: Receive) -> Response | None:
        faults, state = self.state.faults, self.state
        if faults.timeout_next > 0:
            faults.timeout_next -= 1
            await _hang(faults.hang_s, receive, state.closing)
            return state.error_response(504, "Gateway timeout (sandbox fault: timeout_next)")
        if faults.burst_429 > 0:
            faults.burst_429 -= 1
            return state.error_response(429, "Too many requests (sandbox fault: burst_429)",
                                        {"Retry-After": str(faults.retry_after_s)})
        if faults.error_rate > 0 and state.rng.random() < faults.error_rate:
            return state.error_response(500, "Internal server error (sandbox fault: error_rate)")
        if faults.malformed_next > 0:
            faults.malformed_next -= 1
            return Response(b'{"success": true, "result": [{"id": "3x1', media_type="application/json")
        return None


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body, and give the app a `receive` that replays it, then passes on what follows."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return raw, replay


async def _hang(seconds: float, receive: Receive, closing: asyncio.Event) -> None:
    """Sleep like a stuck server, but stop when the client disconnects or the sandbox shuts down."""

    async def client_gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    waiters = [asyncio.ensure_future(client_gone()), asyncio.ensure_future(closing.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)



def control_routes(state: SandboxState) -> list[Route]:
    """`GET/POST /_sandbox/faults`, `GET /_sandbox/writes`, `POST /_sandbox/reset-log`; local, so no auth."""

    async def faults_endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = await request.json()
            except ValueError:
                return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
            if not isinstance(changes, dict):
                return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
            actions = state.actions()
            try:
                update_faults(state.faults, {k: v for k, v in changes.items() if k not in actions})
            except ValueError as error:
                return JSONResponse({"error": str(error)}, status_code=400)
            for name in actions:
                if changes.get(name):
                    actions[name]()
        return JSONResponse(faults_to_json(state.faults))

    async def writes_endpoint(request: Request) -> Response:
        return JSONResponse({"request_count": state.request_count,
                             "writes": [entry.to_json() for entry in state.write_log]})

    async def reset_endpoint(request: Request) -> Response:
        state.reset_log()
        return JSONResponse({"request_count": 0, "writes": []})

    return [
        Route(f"{CONTROL_PREFIX}/faults", faults_endpoint, methods=["GET", "POST"]),
        Route(f"{CONTROL_PREFIX}/writes", writes_endpoint, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/reset-log", reset_endpoint, methods=["POST"]),
    ]
