"""What happens to a request before a fake service sees it: fault injection, counting and the write log.

Each sandbox app is wrapped in `SandboxMiddleware`, which for every API request (never for the
`/_sandbox/...` control endpoints):

1. counts it (`state.request_count`),
2. records it in `state.write_log` when it is a write (body parsed, secrets redacted, headers never kept),
3. asks the state whether to admit it (vTiger flood control lives there) and adds its headers,
4. applies the faults that stop a request before the service executes it, in this order: `timeout_next`
   (hang), `burst_429`, `error_rate` (500), `malformed_next` (200 with a broken JSON body), `reject_next`
   (`reject_status` with the system's real error body). A retry after one of these is always safe.
5. otherwise executes the request; `after_apply_next` then replaces the real answer by the failure named
   in `after_apply` (500, timeout, malformed JSON or a cut connection), as a network that loses the answer
   after the write happened does: the record changed and the idempotency cache remembers the real answer.
   `fault_method` and `fault_path` limit every counted or random fault to matching requests; the others
   pass untouched and leave the counters alone.
6. holds the answer back until latency + jitter have passed since the request arrived. The latency is the
   service's whole answer time, as a client sees it from a real service: the sandbox's own work happens
   inside it rather than on top, so a 20 ms sandbox answers in 20 ms however fast this machine runs it.

The write log keeps, per write, the status the client saw (None when it saw none) and whether the service
executed it (`applied`), so a test can tell a lost answer from a write that never happened.

Faults are plain mutable dataclasses, one per system, so they can be changed from Python
(`sandbox.vtiger.faults.burst_429 = 3`), over HTTP (`POST /_sandbox/faults {"burst_429": 3}`) and from the
command line (`faults_from_options`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import json
import logging
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
AFTER_APPLY_KINDS = ("500", "timeout", "malformed", "reset")
FAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


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
    # Executed, then answered with the failure `after_apply` names: 500, timeout, malformed or reset.
    after_apply_next: int = 0
    after_apply: str = "500"
    # Not executed; answered with this status and the system's real error body.
    reject_next: int = 0
    reject_status: int = 400
    # Counted and random faults only hit requests with this method and a path containing fault_path.
    fault_method: str = ""
    fault_path: str = ""

    def __setattr__(self, name: str, value: Any) -> None:
        # Choice fields are checked on every assignment, so a typo from Python fails here, not mid-request.
        if name in ("after_apply", "fault_method"):
            value = _choice(name, value)
        super().__setattr__(name, value)

    def targets(self, method: str, path: str) -> bool:
        """Whether counted and random faults may hit this request."""
        return (not self.fault_method or method.upper() == self.fault_method) and self.fault_path in path


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


def _choice(name: str, value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a text")
    text = str(value).strip()
    if name == "after_apply":
        if text.lower() not in AFTER_APPLY_KINDS:
            raise ValueError(f"after_apply must be one of {', '.join(AFTER_APPLY_KINDS)} (got '{text}')")
        return text.lower()
    if text and text.upper() not in FAULT_METHODS:
        raise ValueError(f"fault_method must be empty (all methods) or one of {', '.join(FAULT_METHODS)} "
                         f"(got '{text}')")
    return text.upper()


def _convert(name: str, kind: type, value: Any) -> Any:
    if name in ("after_apply", "fault_method"):
        return _choice(name, value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a text")
        return value
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
    if name == "reject_status" and not 400 <= number <= 599:
        raise ValueError(f"reject_status must be an HTTP error status from 400 to 599 (got {number})")
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
        try:
            update_faults(faults[system], {name: value})
        except ValueError as error:
            raise ValueError(f"'{option}': {error}") from None
    vtiger, economic = faults["vtiger"], faults["economic"]
    assert isinstance(vtiger, VtigerFaults) and isinstance(economic, EconomicFaults)
    return vtiger, economic


@dataclass
class LoggedWrite:
    """One write request as the sandbox received it (never its headers: they hold the secrets).

    `status` is what the client saw (None: no answer, as after a timeout or a cut connection); `applied`
    says the request reached the service's handler (a fault after it included, one before it not)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    time: str
    status: int | None = None
    applied: bool = False

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


# Set in the request's task when the sandbox cuts a connection on purpose (after_apply=reset), so uvicorn's
# "returned without completing response" error for that request stays out of the log.
_cutting = contextvars.ContextVar("sandbox_cutting", default=False)


class _QuietDeliberateCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _cutting.get()


_QUIET_DELIBERATE_CUTS = _QuietDeliberateCuts()


async def _no_answer(scope: Scope, receive: Receive, send: Send) -> None:
    """The client has gone: there is nobody to answer."""


class SandboxMiddleware:
    """Pure ASGI middleware (not BaseHTTPMiddleware) so a hanging request can watch for the client leaving."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state
        logging.getLogger("uvicorn.error").addFilter(_QUIET_DELIBERATE_CUTS)  # added once, however many apps

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

        targeted = faults.targets(method, scope["path"])
        if rejection is None and targeted:
            rejection = await self._faults_before(receive)
        if rejection is not None:
            await rejection(scope, replay, send_logged)
            return
        if entry is not None:
            entry.applied = True
        if targeted and faults.after_apply_next > 0:
            faults.after_apply_next -= 1
            await self._fail_after_apply(scope, receive, replay, send_logged, entry)
            return
        await self.app(scope, replay, send_logged)

    async def _faults_before(self, receive: Receive) -> ASGIApp | None:
        faults, state = self.state.faults, self.state
        if faults.timeout_next > 0:
            faults.timeout_next -= 1
            return await self._stall(receive, "timeout_next")
        if faults.burst_429 > 0:
            faults.burst_429 -= 1
            return state.error_response(429, "Too many requests (sandbox fault: burst_429)",
                                        {"Retry-After": str(faults.retry_after_s)})
        if faults.error_rate > 0 and state.rng.random() < faults.error_rate:
            return state.error_response(500, "Internal server error (sandbox fault: error_rate)")
        if faults.malformed_next > 0:
            faults.malformed_next -= 1
            return Response(b'{"success": true, "result": [{"id": "3x1', media_type="application/json")
        if faults.reject_next > 0:
            faults.reject_next -= 1
            return state.error_response(faults.reject_status, "The request was refused and nothing was "
                                        "changed (sandbox fault: reject_next)")
        return None

    async def _stall(self, receive: Receive, fault: str) -> ASGIApp:
        """Hang like a stuck server: no answer once the client gives up, a 504 if it is still there."""
        state = self.state
        if await _hang(state.faults.hang_s, receive, state.closing):
            return _no_answer
        return state.error_response(504, f"Gateway timeout (sandbox fault: {fault})")

    async def _fail_after_apply(self, scope: Scope, receive: Receive, replay: Receive, send: Send,
                                entry: LoggedWrite | None) -> None:
        """Execute the request, keep its real answer from the client and send the `after_apply` failure."""
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, replay, keep)
        kind, state = self.state.faults.after_apply, self.state
        body = b"".join(m.get("body", b"") for m in answer if m["type"] == "http.response.body")
        if kind == "reset":
            # The real head and half the body, then the connection closes: the client gets no whole answer.
            await send(answer[0])
            await send({"type": "http.response.body", "body": body[:len(body) // 2], "more_body": True})
            if entry is not None:
                entry.status = None
            _cutting.set(True)
            return
        failure: ASGIApp
        if kind == "timeout":
            failure = await self._stall(receive, "after_apply")
        elif kind == "malformed":
            failure = Response(body[:len(body) // 2] or b"{", media_type="application/json")
        else:
            failure = state.error_response(500, "Internal server error after the request was applied "
                                                "(sandbox fault: after_apply)")
        await failure(scope, replay, send)


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


async def _hang(seconds: float, receive: Receive, closing: asyncio.Event) -> bool:
    """Sleep like a stuck server, but stop when the client disconnects (True) or the sandbox shuts down."""

    async def client_gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    waiters = [asyncio.ensure_future(client_gone()), asyncio.ensure_future(closing.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        return waiters[0].done() and not waiters[0].cancelled()
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
