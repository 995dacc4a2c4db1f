"""What every connector shares: typed errors, the write result, retries, pacing and the HTTP core.

How a connector reports things, in one place:

* A read returns plain data (``dict`` / ``list[dict]``) or raises a ``ConnectorError`` subclass.
* A write returns a ``WriteResult`` whose ``outcome`` says what happened:
  ``"written"`` (the remote system accepted it, ``response`` holds its answer),
  ``"dry_run"`` (nothing was sent; ``method``/``path``/``payload`` are exactly what would have been sent),
  ``"disabled"`` (the system's sync is switched off; nothing was sent, nothing was read).
* A write the settings forbid (``*_READ_ONLY=true``) raises ``WriteBlocked`` before any request.
  Blocked is an exception, not an outcome, because the caller must not mistake it for success: the user
  has to change a flag, and the message names it.

Errors: ``ConnectorError`` carries ``system``, ``code``, ``message``, ``field_errors`` (``(field, message)``
pairs), ``log_id`` and HTTP ``status``; ``str()`` is one human-readable line such as
``e-conomic: Validation failed (E04300) — name: Name is required; logId abc``. Subclasses say what kind of
trouble it is so the UI can react: ``AuthError``, ``AccessDenied``, ``NotFound``, ``ValidationFailed``,
``ChangedSinceRead``, ``RateLimited``, ``ConnectorTimeout``, ``Unavailable``, ``MalformedResponse``,
``ConfigurationError``, ``WriteBlocked``.

Secrets (API keys, tokens, session names) never reach logs, exception messages or reprs.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TypeVar, overload

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

SYSTEM_LABELS = {"vtiger": "vTiger", "economic": "e-conomic"}
T = TypeVar("T")
_SESSION_IN_URL = re.compile(r"(sessionName=)[^&\s\"']+")


class _RedactSessionFilter(logging.Filter):
    """httpx logs every request URL at INFO; a webservice.php read carries ``sessionName`` in its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "sessionName=" in message:
            record.msg, record.args = _SESSION_IN_URL.sub(r"\1***", message), ()
        return True


if not any(isinstance(item, _RedactSessionFilter) for item in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactSessionFilter())

WriteOutcome = Literal["written", "dry_run", "disabled"]


class ConnectorError(Exception):
    """A remote system said no, or could not be reached; ``str()`` is the line to show the user."""

    def __init__(
        self,
        system: str,
        message: str,
        *,
        code: str | None = None,
        field_errors: Sequence[tuple[str, str]] = (),
        log_id: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        self.system = system
        self.message = message
        self.code = code
        self.field_errors: list[tuple[str, str]] = list(field_errors)
        self.log_id = log_id
        self.status = status
        # Only the retry machinery reads these two.
        self.retry_after = retry_after
        self.retryable = retryable
        # Set by the HTTP core when it gives up: which request failed, and how often it was sent.
        self.request: str | None = None
        self.attempts = 1
        super().__init__(self.__str__())

    def __str__(self) -> str:
        label = SYSTEM_LABELS.get(self.system, self.system)
        head = f"{label}: {_sentence(self.message) or 'error'}"
        if self.code:
            head += f" ({self.code})"
        details = [
            f"{name}: {_sentence(text)}" if name else _sentence(text) for name, text in self.field_errors
        ]
        if self.log_id:
            details.append(f"logId {self.log_id}")
        return f"{head} — {'; '.join(details)}" if details else head

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__str__()!r})"


def _sentence(text: str) -> str:
    """Trailing full stops dropped so the pieces of one line join cleanly."""
    return text.strip().rstrip(".").strip()


class AuthError(ConnectorError):
    """Credentials missing, wrong or revoked (HTTP 401, vTiger INVALID_USER_CREDENTIALS ...)."""


class AccessDenied(ConnectorError):
    """Authenticated, but not allowed to touch this resource (HTTP 403, vTiger ACCESS_DENIED)."""


class NotFound(ConnectorError):
    """The record or resource does not exist (HTTP 404, vTiger RECORD_NOT_FOUND)."""


class ValidationFailed(ConnectorError):
    """The remote system rejected the data; ``field_errors`` says which field and why."""


class ChangedSinceRead(ConnectorError):
    """Someone changed the record after we read it; writing now would overwrite their change."""

    def __init__(self, system: str, message: str, *, expected: str | None, actual: str | None) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(system, message, code="CHANGED_SINCE_READ", status=None)


class RateLimited(ConnectorError):
    """HTTP 429 still after every retry."""


class ConnectorTimeout(ConnectorError):
    """No answer within ``HTTP_TIMEOUT_SECONDS``."""


class Unavailable(ConnectorError):
    """The system could not be reached or answered 5xx (after every retry)."""


class MalformedResponse(ConnectorError):
    """The answer was not the JSON the API promises."""


class ConfigurationError(ConnectorError):
    """A setting does not fit the remote system (missing URL, unknown module or field ...)."""


class WriteBlocked(ConnectorError):
    """A ``*_READ_ONLY`` flag forbids this write; raised before any request is made."""

    def __init__(self, system: str, message: str, *, flag: str) -> None:
        self.flag = flag
        super().__init__(system, message, code="READ_ONLY")


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did. ``payload`` is the exact body sent (or that would have been sent)."""

    system: str
    outcome: WriteOutcome
    method: str
    path: str
    payload: Mapping[str, Any] | None = None
    response: Any = None
    log_id: str | None = None
    reason: str = ""
    replayed: bool = False  # e-conomic answered from its Idempotency-Key cache

    @property
    def written(self) -> bool:
        return self.outcome == "written"


@dataclass(slots=True)
class RateBudget:
    """The last rate-limit headers seen, for the Systems screen. ``None`` = the header was absent."""

    minute_limit: int | None = None
    minute_remaining: int | None = None
    minute_reset_at: float | None = None  # epoch seconds
    daily_limit: int | None = None
    daily_remaining: int | None = None
    seen_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "minute_limit": self.minute_limit,
            "minute_remaining": self.minute_remaining,
            "minute_reset_at": self.minute_reset_at,
            "daily_limit": self.daily_limit,
            "daily_remaining": self.daily_remaining,
        }


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


class RatePacer:
    """Slows requests down as the minute budget runs out, so a bulk read never trips HTTP 429.

    vTiger Cloud reports ``X-FloodControl-Remaining`` (requests left this minute) and
    ``X-FloodControl-Reset``: when the minute window ends, which the documentation does not pin down as
    an epoch second or as seconds from now, so both are accepted (a value above 10⁹ is an epoch second).
    When only ``reserve`` requests are left we wait for the reset; below a quarter of the budget we spread
    the rest evenly over the time left. No wait is longer than ``max_wait``, nor is the time left to a reset
    taken as longer. Requests still in flight are counted down locally, because their headers have not
    arrived yet.
    """

    def __init__(
        self,
        *,
        reserve: int = 2,
        max_wait: float = 65.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        self.reserve = reserve
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._logger = logger or logging.getLogger("hubtui.connectors")
        self.budget: RateBudget | None = None
        self.waited_seconds = 0.0
        self._warned_daily = False

    def observe(self, headers: Mapping[str, str]) -> None:
        minute_remaining = _int_header(headers, "X-FloodControl-Remaining")
        daily_remaining = _int_header(headers, "X-RateLimit-Remaining")
        if minute_remaining is None and daily_remaining is None:
            return
        now = self._clock()
        reset = _int_header(headers, "X-FloodControl-Reset")
        # An epoch second, or seconds from now (a small number can only be that). Integer seconds either way,
        # so the reset is known to within a second; the seconds form is also late by the answer's latency.
        reset_at = None if reset is None else float(reset) if reset > 1_000_000_000 else now + reset
        old = self.budget
        budget = RateBudget(
            minute_limit=_int_header(headers, "X-FloodControl-MinuteLimit"),
            minute_remaining=minute_remaining,
            minute_reset_at=reset_at,
            daily_limit=_int_header(headers, "X-RateLimit-DailyLimit"),
            daily_remaining=daily_remaining,
            seen_at=now,
        )
        if old is not None and old.minute_reset_at is not None and now < old.minute_reset_at:
            # Still the window we know of (an epoch reset is the same in all its answers; the next window's
            # answers come after it has ended). A slow answer to an early request must not raise the count
            # we have spent since. Seconds-from-now are whole seconds, late by the rounding and the answer's
            # latency, so every answer of a window gives another reset_at: the earliest is the closest,
            # and waiting only until then is what keeps the pacer from over-waiting up to a second a window.
            if reset_at is not None:
                budget.minute_reset_at = min(old.minute_reset_at, reset_at)
            if minute_remaining is not None and old.minute_remaining is not None:
                budget.minute_remaining = min(old.minute_remaining, minute_remaining)
        self.budget = budget
        if daily_remaining is not None and daily_remaining <= self.reserve and not self._warned_daily:
            self._warned_daily = True
            self._logger.warning("daily API quota nearly used up: %s requests left", daily_remaining)

    async def wait_turn(self) -> None:
        async with self._lock:
            budget = self.budget
            if budget is None or budget.minute_remaining is None:
                return
            now = self._clock()
            left = budget.minute_remaining
            time_to_reset = (budget.minute_reset_at - now) if budget.minute_reset_at is not None else 60.0
            # A minute window cannot end further away than ``max_wait``: a reset that says otherwise (a skewed
            # clock, a value in another unit) must not stretch the spreading below to one request a minute.
            time_to_reset = min(time_to_reset, self.max_wait)
            if time_to_reset <= 0:
                budget.minute_remaining = None  # a new window: unknown until the next answer
                return
            delay = 0.0
            spent = left <= max(self.reserve, 0)
            if spent:
                delay = time_to_reset
            elif left < max(self.reserve * 2, (budget.minute_limit or 40) // 4):
                delay = time_to_reset / left
            if delay > 0:
                self._logger.debug("pacing: %d requests left this minute, waiting %.2f s", left, delay)
                self.waited_seconds += delay
                await self._sleep(delay)
            if spent:
                budget.minute_remaining = None
            else:
                budget.minute_remaining = left - 1


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (now if now is not None else time.time()))


def parse_json(response: httpx.Response, system: str, label: str, redact: Callable[[str], str]) -> Any:
    """The body as JSON, or a ``MalformedResponse`` that says what came instead."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        snippet = redact(response.text[:80]) if response.content else "an empty body"
        kind = response.headers.get("content-type", "no content type")
        raise MalformedResponse(
            system,
            f"{label} answered HTTP {response.status_code} with something that is not JSON ({kind}): "
            f"{snippet!r}",
            status=response.status_code,
        ) from None


def json_or_none(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON: an error page need not be, its status still tells."""
    try:
        return response.json()
    except ValueError:
        return None


def error_class_for_status(status: int) -> type[ConnectorError]:
    if status == 401:
        return AuthError
    if status == 403:
        return AccessDenied
    if status == 404:
        return NotFound
    if status in (400, 409, 422):
        return ValidationFailed
    if status == 429:
        return RateLimited
    if status >= 500:
        return Unavailable
    return ConnectorError


def without_empty(value: Any) -> Any:
    """Drop ``None``, empty strings and emptied containers, recursively: e-conomic rejects ``null``
    and reads an absent field as empty."""
    if isinstance(value, Mapping):
        cleaned = {key: without_empty(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if not _is_empty(item)}
    if isinstance(value, list | tuple):
        return [item for item in (without_empty(item) for item in value) if not _is_empty(item)]
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, dict | list) and not value)


@dataclass(slots=True)
class RetryPolicy:
    """How hard to try. Attempts come from ``HTTP_MAX_RETRIES``; waits are constructor arguments so tests
    can make them tiny."""

    max_retries: int = 4
    wait_base: float = 0.5
    wait_max: float = 30.0
    max_retry_after: float = 120.0


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    json_body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = True
    label: str = ""


ErrorFactory = Callable[[httpx.Response, str], ConnectorError]


class HttpCore:
    """One shared ``httpx.AsyncClient`` per system with bounded concurrency, pacing, retries and logs.

    Retries (tenacity, exponential backoff with jitter, ``Retry-After`` honoured) cover HTTP 429, 5xx,
    timeouts and connection failures — but only when repeating cannot double a write: reads, and writes
    that carry an ``Idempotency-Key``. A 429 or a failed connect is retried for any method because the
    server did not act on the request.
    """

    def __init__(
        self,
        *,
        system: str,
        client: httpx.AsyncClient,
        max_concurrency: int,
        retry: RetryPolicy,
        timeout_seconds: float,
        error_factory: ErrorFactory,
        secrets: Callable[[], Iterable[str]],
        pacer: RatePacer | None = None,
        config_error: ConnectorError | None = None,
    ) -> None:
        self.system = system
        self.http = client
        self.retry = retry
        self.timeout_seconds = timeout_seconds
        self.pacer = pacer
        self.request_count = 0
        self.config_error = config_error
        self.logger = logging.getLogger(f"hubtui.connectors.{system}")
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._error_factory = error_factory
        self._secrets = secrets

    def redact(self, text: str) -> str:
        for secret in self._secrets():
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        label: str | None = None,
        parse: None = None,
    ) -> httpx.Response: ...

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        label: str | None = None,
        parse: Callable[[httpx.Response], T],
    ) -> T: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        label: str | None = None,
        parse: Callable[[httpx.Response], Any] | None = None,
    ) -> Any:
        """Send with retries; 429/5xx that outlive the retries raise, every other status is returned.

        With ``parse``, what it makes of the response is returned instead, and parsing is part of each
        attempt: a ``MalformedResponse`` it raises (a cut or garbled body, a page without its rows) is
        retried like a 5xx when the request is idempotent. The error that ends the retries carries the
        request's label and how many times it was sent (``request``, ``attempts``).
        """
        if self.config_error is not None:
            raise self.config_error
        headers = dict(headers or {})
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS") or "Idempotency-Key" in headers
        request = _Request(
            method, path, params, data, json_body, headers, idempotent, label or f"{method} {path}"
        )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, ConnectorError) and exc.retryable),
            reraise=True,
            before_sleep=self._log_retry,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._send_once(request)
                    return response if parse is None else self._parsed(request, response, parse)
        except ConnectorError as error:
            error.request = error.request or request.label
            error.attempts = retrying.statistics.get("attempt_number", 1)
            raise
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    @staticmethod
    def _parsed(request: _Request, response: httpx.Response, parse: Callable[[httpx.Response], T]) -> T:
        try:
            return parse(response)
        except MalformedResponse as error:
            # A garbled or cut answer is a transport accident like a 5xx: a read asked again may come whole.
            error.retryable = request.idempotent
            raise

    async def _send_once(self, request: _Request) -> httpx.Response:
        async with self._semaphore:
            if self.pacer is not None:
                await self.pacer.wait_turn()
            self.request_count += 1
            started = time.perf_counter()
            try:
                response = await self.http.request(
                    request.method,
                    request.path,
                    params=request.params,
                    data=request.data,
                    json=request.json_body,
                    headers=request.headers,
                )
            except httpx.TransportError as exc:
                elapsed = (time.perf_counter() - started) * 1000
                self.logger.debug("%s -> %s after %.0f ms", request.label, type(exc).__name__, elapsed)
                raise self._transport_error(request, exc) from None
        elapsed = (time.perf_counter() - started) * 1000
        self.logger.debug("%s -> %d in %.0f ms", request.label, response.status_code, elapsed)
        if self.pacer is not None:
            self.pacer.observe(response.headers)
        status = response.status_code
        if status == 429 or status >= 500:
            error = self._error_factory(response, request.label)
            error.retryable = status == 429 or request.idempotent
            error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise error
        return response

    def _transport_error(self, request: _Request, exc: httpx.TransportError) -> ConnectorError:
        # Never sent, so always safe to repeat: a refused connection, or a timeout before connecting.
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        retryable = never_sent or request.idempotent
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return ConnectorTimeout(
                self.system,
                f"no answer to {request.label} within {self.timeout_seconds:g} s",
                code="TIMEOUT",
                retryable=retryable,
            )
        reason = self.redact(str(exc)) or type(exc).__name__
        return Unavailable(
            self.system,
            f"cannot reach the server for {request.label}: {reason}",
            code="UNREACHABLE",
            retryable=retryable,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self.retry.max_retry_after)
        backoff = self.retry.wait_base * math.pow(2, state.attempt_number - 1)
        return min(backoff + random.uniform(0, self.retry.wait_base), self.retry.wait_max)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.logger.info(
            "retry %d/%d in %.2f s after: %s", state.attempt_number, self.retry.max_retries, wait, error
        )

    async def aclose(self) -> None:
        await self.http.aclose()


class RemoteClient:
    """What both clients share: one HTTP core, used as ``async with Client(settings) as client:``."""

    _core: HttpCore

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._core.aclose()

    @property
    def request_count(self) -> int:
        """HTTP requests actually sent (retries and logins included), for benchmarks."""
        return self._core.request_count
