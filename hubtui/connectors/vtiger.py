"""vTiger CRM connector: one client, two transports (Cloud REST and the classic webservice.php).

* REST (``VTIGER_API_FLAVOUR=rest``): HTTP Basic with username + access key against
  ``VTIGER_URL/restapi/v1/vtiger/default`` (the suffix is added when the URL has no ``restapi``).
* Webservice (``VTIGER_API_FLAVOUR=webservice``): ``getchallenge`` + ``login`` with
  ``accessKey = md5(token + access key)``, ``sessionName`` on every call, reads as GET and writes as POST,
  always HTTP 200 with the envelope. An expired session is renewed once and the call repeated.

Every string value this client returns has its HTML entities decoded (``&amp;`` -> ``&``): vTiger stores
some text HTML-encoded, and callers compare and show real text. Values put into a VTQL query always go
through ``vtql_quote`` / ``vtql_identifier``. ``query`` pages past vTiger's 100-row cap by itself, with
several pages in flight at a time.
Writes use ``revise`` (the partial update) only, and ``VTIGER_SYNC_ENABLED=false`` turns them into a
``WriteResult`` with outcome ``"disabled"`` (see ``base.py`` for the result and error types).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import html
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from hubtui.config import Settings
from hubtui.connectors.base import (
    AccessDenied,
    AuthError,
    ConfigurationError,
    ConnectorError,
    HttpCore,
    MalformedResponse,
    NotFound,
    RateBudget,
    RatePacer,
    RemoteClient,
    RetryPolicy,
    ValidationFailed,
    WriteResult,
    error_class_for_status,
    json_or_none,
    parse_json,
)
from hubtui.connectors.safety import decide
from hubtui.core.billing import truthy
from hubtui.core.safety import vtiger_record_gate

SYSTEM = "vtiger"
REST_SUFFIX = "/restapi/v1/vtiger/default"
QUERY_PAGE_SIZE = 100  # vTiger cuts every query to at most 100 rows
SESSION_ERRORS = frozenset({"INVALID_SESSIONID", "SESSION_EXPIRED", "SESSION_LEFT_IDLE"})
# Writes that are safe to send again after a 5xx or a lost answer: login only opens a session, and revise
# sets the same values a second time.
REPEATABLE_WRITES = frozenset({"login", "revise"})
CREDENTIAL_HINT = "check VTIGER_USERNAME and VTIGER_API_KEY"

_CODE_CLASSES: dict[str, type[ConnectorError]] = {
    "INVALID_USER_CREDENTIALS": AuthError,
    "INVALID_AUTH_TOKEN": AuthError,
    "AUTHENTICATION_REQUIRED": AuthError,
    "INVALID_SESSIONID": AuthError,
    "SESSION_EXPIRED": AuthError,
    "SESSION_LEFT_IDLE": AuthError,
    "ACCESS_DENIED": AccessDenied,
    "RECORD_NOT_FOUND": NotFound,
    "MANDATORY_FIELDS_MISSING": ValidationFailed,
    "INVALID_ID_ATTRIBUTE": ValidationFailed,
    "QUERY_SYNTAX_ERROR": ValidationFailed,
    "REFERENCE_INVALID": ValidationFailed,
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED = re.compile(r"'(?:[^']|'')*'")
_MANDATORY = re.compile(r"^(\w+) does not have a value")

# (what, Settings attribute) for every Timelogs field the time tracking reads.
TIMELOG_FIELD_SETTINGS: tuple[tuple[str, str], ...] = (
    ("account_id", "vtiger_timelog_account_field"),
    ("contact_id", "vtiger_timelog_contact_field"),
    ("date", "vtiger_timelog_date_field"),
    ("duration", "vtiger_timelog_duration_field"),
    ("description", "vtiger_timelog_description_field"),
    ("billable", "vtiger_timelog_billable_field"),
    ("case_id", "vtiger_timelog_case_field"),
)


def vtql_quote(value: object) -> str:
    """A VTQL string literal: single quotes doubled, as vTiger's lexer expects.

    Backslashes are doubled too: the server pastes the literal into MySQL, where a backslash escapes the
    next character and could otherwise swallow the closing quote.
    """
    text = str(value).replace("\\", "\\\\").replace("'", "''")
    return f"'{text}'"


def vtql_identifier(name: str) -> str:
    """A module or field name, refused unless it is a plain identifier (it goes into the query unquoted)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a vTiger module or field name")
    return name


def vtql_select(module: str, columns: Sequence[str] = ("*",)) -> str:
    """``select <columns> from <module>``, every name checked as by ``vtql_identifier``."""
    listed = "*" if list(columns) == ["*"] else ", ".join(vtql_identifier(column) for column in columns)
    return f"select {listed} from {vtql_identifier(module)}"


def vtql_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, vTiger's ``modifiedtime`` format (naive datetimes count as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def decode_entities(value: Any) -> Any:
    """Every string inside ``value`` with HTML entities decoded; keys and other types unchanged.

    Returns new containers and leaves ``value`` as it was. A query page is a list of flat row dicts, so
    rows are decoded without a call per value (10,000 rows of ~45 fields used to cost ~440,000 calls).
    """
    if isinstance(value, str):
        return html.unescape(value) if "&" in value else value
    if isinstance(value, dict):
        return _decode_dict(value)
    if isinstance(value, list):
        return [_decode_dict(item) if isinstance(item, dict) else decode_entities(item) for item in value]
    return value


def _decode_dict(row: dict[str, Any]) -> dict[str, Any]:
    # Copy, then replace only what changes: most values are plain strings without "&" (or empty).
    decoded = dict(row)
    for key, item in row.items():
        if isinstance(item, str):
            if "&" in item:
                decoded[key] = html.unescape(item)
        elif isinstance(item, dict | list):
            decoded[key] = decode_entities(item)
    return decoded


def _outside_literals(statement: str) -> str:
    return _QUOTED.sub("''", statement)


def rest_base_url(url: str) -> str:
    url = url.rstrip("/")
    return url if "restapi" in url else url + REST_SUFFIX


def webservice_root_url(url: str) -> str:
    url = url.rstrip("/")
    for marker in ("/webservice.php", "/restapi"):
        if marker in url:
            url = url[: url.index(marker)]
    return url + "/"


def _display_url(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None))


@dataclass(frozen=True, slots=True)
class VtigerTimelog:
    """One Timelogs record read through the field names in the ``VTIGER_TIMELOG_*`` settings.

    Values are vTiger's own strings ("" when a field is empty or not configured); interpreting the
    duration and date is left to the time-tracking logic.
    """

    id: str
    account_id: str
    contact_id: str
    date: str
    duration: str
    description: str
    billable: bool
    case_id: str
    modified_time: str
    raw: Mapping[str, Any]


class _Api(Protocol):
    async def call(
        self, operation: str, params: Mapping[str, str], *, write: bool, expect: type | None = None,
        detail: str = "",
    ) -> Any: ...

    def path(self, operation: str) -> str: ...

    def secrets(self) -> list[str]: ...


def _envelope_error(
    body: Any, status: int, label: str, *, redact: Any, default: type[ConnectorError] | None = None
) -> ConnectorError:
    error = body.get("error") if isinstance(body, dict) else None
    code = message = None
    if isinstance(error, dict):
        code = str(error.get("code") or "") or None
        message = str(error.get("message") or "") or None
    message = redact(html.unescape(message)) if message else f"{label} answered HTTP {status}"
    if default is not None:
        cls = default
    elif code in _CODE_CLASSES:
        cls = _CODE_CLASSES[code]
    elif code is None or status not in (200, 400):
        cls = error_class_for_status(status)
    else:
        cls = ConnectorError  # a code we do not know: say what vTiger said, claim nothing more
    field_errors: list[tuple[str, str]] = []
    if code == "MANDATORY_FIELDS_MISSING" and (match := _MANDATORY.match(message)):
        field_errors.append((match.group(1), message))
    if cls is AuthError and code not in SESSION_ERRORS:
        message = f"{message} ({CREDENTIAL_HINT})"
    return cls(SYSTEM, message, code=code, field_errors=field_errors, status=status)


_EXPECTED = {list: "a list of rows", dict: "an object"}


class _Transport:
    """What both flavours share: the HTTP core and the envelope."""

    core: HttpCore

    def _parser(self, label: str, expect: type | None) -> Callable[[httpx.Response], Any]:
        """The envelope's result (of the ``expect`` type), read inside the core's retries."""

        def parse(response: httpx.Response) -> Any:
            result = self._unwrap(response, label)
            if expect is not None and not isinstance(result, expect):
                raise MalformedResponse(
                    SYSTEM, f"{label} answered without {_EXPECTED.get(expect, expect.__name__)}", status=200
                )
            return result

        return parse

    def _unwrap(self, response: httpx.Response, label: str) -> Any:
        if response.status_code == 200:
            body = parse_json(response, SYSTEM, label, self.core.redact)
        else:
            body = json_or_none(response)  # an error page need not be JSON: the status still tells
        if response.status_code == 200 and isinstance(body, dict) and body.get("success") is True:
            if "result" not in body:
                raise MalformedResponse(SYSTEM, f"{label} answered success without a result", status=200)
            return body["result"]
        if response.status_code == 200 and not (isinstance(body, dict) and body.get("success") is False):
            raise MalformedResponse(
                SYSTEM, f"{label} answered without vTiger's success/result envelope", status=200
            )
        raise _envelope_error(body, response.status_code, label, redact=self.core.redact)


class _RestApi(_Transport):
    def __init__(self, core: HttpCore, username: str, api_key: str) -> None:
        self.core = core
        self._basic = base64.b64encode(f"{username}:{api_key}".encode()).decode() if api_key else ""
        self._api_key = api_key

    def path(self, operation: str) -> str:
        return f"/{operation}"

    def secrets(self) -> list[str]:
        return [self._api_key, self._basic]

    async def call(
        self, operation: str, params: Mapping[str, str], *, write: bool, expect: type | None = None,
        detail: str = "",
    ) -> Any:
        method = "POST" if write else "GET"
        label = " ".join(filter(None, (method, self.path(operation), detail)))
        return await self.core.request(
            method,
            operation,
            params=None if write else params,
            data=params if write else None,
            idempotent=not write or operation in REPEATABLE_WRITES,
            label=label,
            parse=self._parser(label, expect),
        )


class _WebserviceApi(_Transport):
    def __init__(self, core: HttpCore, username: str, api_key: str) -> None:
        self.core = core
        self._username = username
        self._api_key = api_key
        self._session: str | None = None
        self._access_key = ""
        self.user_id: str | None = None
        self._login_lock = asyncio.Lock()

    def path(self, operation: str) -> str:
        return f"webservice.php?operation={operation}"

    def secrets(self) -> list[str]:
        return [self._api_key, self._session or "", self._access_key]

    async def _send(
        self, operation: str, params: Mapping[str, str], *, write: bool, session: str | None,
        expect: type | None = None, detail: str = "",
    ) -> Any:
        fields = {"operation": operation, **params}
        if session is not None:
            fields["sessionName"] = session
        method = "POST" if write else "GET"
        label = " ".join(filter(None, (method, self.path(operation), detail)))
        return await self.core.request(
            method,
            "webservice.php",
            params=None if write else fields,
            data=fields if write else None,
            idempotent=not write or operation in REPEATABLE_WRITES,
            label=label,
            parse=self._parser(label, expect),
        )

    async def session(self, stale: str | None = None) -> str:
        """The current session; a new login when there is none or when ``stale`` is still the current one."""
        async with self._login_lock:
            # Another task may have renewed it while we waited: a fresh challenge would void theirs.
            if self._session is not None and self._session != stale:
                return self._session
            self._session = None
            try:
                result = await self._login()
            except AuthError as error:
                # A challenge token lives 5 minutes; one that expired in between is worth one retry.
                if error.code != "INVALID_AUTH_TOKEN":
                    raise
                result = await self._login()
            if not isinstance(result, dict) or not result.get("sessionName"):
                raise MalformedResponse(SYSTEM, "login answered without a sessionName")
            self._session = str(result["sessionName"])
            self.user_id = str(result.get("userId") or "") or None
            return self._session

    async def _login(self) -> Any:
        challenge = await self._send("getchallenge", {"username": self._username}, write=False, session=None)
        token = challenge.get("token") if isinstance(challenge, dict) else None
        if not token:
            raise MalformedResponse(SYSTEM, "getchallenge answered without a token")
        self._access_key = hashlib.md5((str(token) + self._api_key).encode()).hexdigest()
        return await self._send(
            "login", {"username": self._username, "accessKey": self._access_key}, write=True, session=None
        )

    async def call(
        self, operation: str, params: Mapping[str, str], *, write: bool, expect: type | None = None,
        detail: str = "",
    ) -> Any:
        session = await self.session()
        try:
            return await self._send(operation, params, write=write, session=session, expect=expect, detail=detail)
        except ConnectorError as error:
            if error.code not in SESSION_ERRORS:
                raise
            self.core.logger.info("vTiger session %s; logging in again", error.code)
        session = await self.session(stale=session)
        return await self._send(operation, params, write=write, session=session, expect=expect, detail=detail)


class VtigerClient(RemoteClient):
    """Async vTiger client. Use ``async with VtigerClient(settings) as crm:`` (or call ``aclose()``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        pacer: RatePacer | None = None,
    ) -> None:
        self.settings = settings
        self.flavour = settings.vtiger_api_flavour
        url = str(settings.vtiger_url) if settings.vtiger_url else ""
        config_error = None
        if not url:
            config_error = ConfigurationError(SYSTEM, "VTIGER_URL is not set", code="NOT_CONFIGURED")
        elif not settings.vtiger_username or not settings.vtiger_api_key.get_secret_value():
            config_error = ConfigurationError(
                SYSTEM, "VTIGER_USERNAME and VTIGER_API_KEY must both be set", code="NOT_CONFIGURED"
            )
        url = url or "http://vtiger.invalid"
        self.base_url = rest_base_url(url) if self.flavour == "rest" else webservice_root_url(url)
        username = settings.vtiger_username
        api_key = settings.vtiger_api_key.get_secret_value()
        concurrency = settings.vtiger_max_concurrency
        self._concurrency = concurrency  # also how many query pages are fetched ahead
        http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=httpx.BasicAuth(username, api_key) if self.flavour == "rest" else None,
            timeout=httpx.Timeout(settings.http_timeout_seconds),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"Accept": "application/json", "User-Agent": "hubtui"},
            transport=transport,
        )
        logger = logging.getLogger(f"hubtui.connectors.{SYSTEM}")
        self.pacer = pacer or RatePacer(reserve=max(2, concurrency), logger=logger)
        retry = replace(retry or RetryPolicy(), max_retries=settings.http_max_retries)
        self._core = HttpCore(
            system=SYSTEM,
            client=http,
            max_concurrency=concurrency,
            retry=retry,
            timeout_seconds=settings.http_timeout_seconds,
            error_factory=self._error_from_response,
            secrets=lambda: self._api.secrets(),
            pacer=self.pacer,
            config_error=config_error,
        )
        self._api: _RestApi | _WebserviceApi = (
            _RestApi(self._core, username, api_key)
            if self.flavour == "rest"
            else _WebserviceApi(self._core, username, api_key)
        )
        self._describe_cache: dict[str, dict[str, Any]] = {}
        self._describe_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"VtigerClient(flavour={self.flavour!r}, url={_display_url(self.base_url)!r}, "
            f"username={self.settings.vtiger_username!r})"
        )

    @property
    def rate_budget(self) -> RateBudget | None:
        """The last ``X-FloodControl-*`` / ``X-RateLimit-*`` figures seen, or ``None`` before any."""
        return self.pacer.budget

    def _error_from_response(self, response: httpx.Response, label: str) -> ConnectorError:
        return _envelope_error(
            json_or_none(response),
            response.status_code,
            label,
            redact=self._core.redact,
            default=error_class_for_status(response.status_code),
        )

    async def _call(
        self, operation: str, params: Mapping[str, str], *, write: bool = False, expect: type | None = None,
        detail: str = "",
    ) -> Any:
        """The operation's result, of the ``expect`` type (else a retried ``MalformedResponse``); ``detail``
        is added to the request's name in logs and errors (which record, which page of a query)."""
        return decode_entities(await self._api.call(operation, params, write=write, expect=expect, detail=detail))

    async def me(self) -> dict[str, Any]:
        """The user the credentials belong to (REST ``/me``; webservice: that user's record)."""
        if isinstance(self._api, _WebserviceApi):
            await self._api.session()
            if not self._api.user_id:
                raise MalformedResponse(SYSTEM, "login answered without a userId")
            return await self.retrieve(self._api.user_id)
        return await self._call("me", {})

    async def describe(self, module: str) -> dict[str, Any]:
        """The module's description (``idPrefix``, ``fields`` ...), fetched once per client."""
        vtql_identifier(module)
        async with self._describe_lock:
            if module not in self._describe_cache:
                self._describe_cache[module] = await self._call(
                    "describe", {"elementType": module}, expect=dict, detail=module
                )
            return self._describe_cache[module]

    async def id_prefix(self, module: str) -> str:
        return str((await self.describe(module)).get("idPrefix", ""))

    async def field_names(self, module: str) -> set[str]:
        fields = (await self.describe(module)).get("fields") or []
        return {str(item["name"]) for item in fields if isinstance(item, dict) and "name" in item}

    async def retrieve(self, record_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("retrieve", {"id": record_id}, expect=dict, detail=record_id)
        return result

    async def query_pages(self, statement: str, *, bulk: bool = False) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the rows of ``statement`` 100 at a time, in a stable order, until a short page.

        ``statement`` is ``select ... from ... [where ...] [order by ...]`` without ``limit``: paging adds
        it. Results are ordered by ``id`` (appended after any order you give) so no row is skipped or
        repeated between pages.

        vTiger does not say how many rows will come, so pages are fetched ahead: the first one alone (most
        queries fit in one page, and then no request is wasted; ``bulk=True`` says many pages are expected,
        and then the first round is whole too), then, once it came back full, up to
        ``VTIGER_MAX_CONCURRENCY`` pages at a time (offsets 100, 200, ...), each full page asking at once
        for the page that many after it. Pages are still yielded in order, and the first short page ends
        the read: the requests already sent past it (at most concurrency - 1) are cancelled. Every request
        goes through the client's concurrency limit and the flood-control pacer as any other.
        """
        base = statement.strip().rstrip(";").strip()
        bare = _outside_literals(base).lower()
        if re.search(r"\blimit\b", bare):
            raise ValueError("query() pages by itself: leave LIMIT out of the statement")
        order = re.search(r"\border\s+by\b(.*)$", bare)
        if order is None:
            base += " order by id"
        elif not re.search(r"\bid\b", order.group(1)):
            base += ", id"

        async def page(offset: int) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = await self._call(
                "query", {"query": f"{base} limit {offset},{QUERY_PAGE_SIZE};"}, expect=list,
                detail=f"page {offset // QUERY_PAGE_SIZE + 1} (offset {offset})",
            )
            return rows

        first = 0
        if not bulk:
            rows = await page(0)
            yield rows
            if len(rows) < QUERY_PAGE_SIZE:
                return
            first = QUERY_PAGE_SIZE
        # A page is asked for only once the one ``concurrency`` pages before it came back full, so one at a
        # time never asks for a page past the end, and more at a time asks for at most concurrency - 1.
        # Each page asks for its successor the moment it is in, not when the caller gets to it: waiting
        # for the pages before it would leave its slot idle and keep the requests in lockstep rounds.
        # Pages are only sent for within twice the concurrency of the next one the caller takes, so a slow
        # caller holds back the reading (and the page it needs next is never the one held back).
        step = QUERY_PAGE_SIZE * self._concurrency
        window = 2 * step
        next_taken = first
        in_hand: dict[int, asyncio.Task[list[dict[str, Any]]]] = {}
        held_back: list[int] = []  # a heap of offsets asked for beyond the window

        def ask(offset: int) -> None:
            if offset < next_taken + window:
                in_hand[offset] = asyncio.create_task(page_and_next(offset))
            else:
                heapq.heappush(held_back, offset)

        async def page_and_next(offset: int) -> list[dict[str, Any]]:
            rows = await page(offset)
            if len(rows) == QUERY_PAGE_SIZE:
                ask(offset + step)
            return rows

        for offset in range(first, first + step, QUERY_PAGE_SIZE):
            ask(offset)
        try:
            while True:
                rows = await in_hand[next_taken]
                del in_hand[next_taken]
                next_taken += QUERY_PAGE_SIZE
                while held_back and held_back[0] < next_taken + window:
                    ask(heapq.heappop(held_back))
                yield rows
                if len(rows) < QUERY_PAGE_SIZE:
                    return
        finally:
            # The end was reached, a page failed, or the caller stopped early: nobody wants the rest.
            for task in in_hand.values():
                task.cancel()
            await asyncio.gather(*in_hand.values(), return_exceptions=True)

    async def query(self, statement: str, *, bulk: bool = False) -> list[dict[str, Any]]:
        """All rows of ``statement`` (see ``query_pages``)."""
        rows: list[dict[str, Any]] = []
        async for page in self.query_pages(statement, bulk=bulk):
            rows.extend(page)
        return rows

    async def find(self, module: str, field: str, value: object) -> list[dict[str, Any]]:
        """Records of ``module`` whose ``field`` equals ``value`` (quoted safely)."""
        return await self.query(
            f"{vtql_select(module)} where {vtql_identifier(field)} = {vtql_quote(value)}"
        )

    async def modified_since(self, module: str, since: datetime | None) -> list[dict[str, Any]]:
        """Records changed after ``since`` (all of them for ``None``), by ``modifiedtime``."""
        statement = vtql_select(module)
        if since is not None:
            statement += f" where modifiedtime > {vtql_quote(vtql_timestamp(since))}"
        return await self.query(statement)

    async def revise(self, record_id: str, fields: Mapping[str, Any]) -> WriteResult:
        """Change only ``fields`` of one record (vTiger's partial update).

        Retried like a read on 5xx, timeouts and lost connections: sending it again sets the same values.
        An error that leaves its fate unknown (``ConnectorTimeout``, ``Unavailable``, ``MalformedResponse``)
        is settled by reading the record back."""
        gate = vtiger_record_gate(self.settings)
        path = self._api.path("revise")
        element = {"id": record_id, **{key: value for key, value in fields.items() if key != "id"}}
        if decide(gate, "POST", path) == "disabled":
            return WriteResult(SYSTEM, "disabled", "POST", path, payload=element, reason=gate.reason)
        result = await self._call("revise", {"element": json.dumps(element, ensure_ascii=False)}, write=True)
        return WriteResult(SYSTEM, "written", "POST", path, payload=element, response=result)

    async def connection_test(self) -> dict[str, Any]:
        """Who we are logged in as, plus the flags that govern writes; raises a typed error otherwise."""
        me = await self.me()
        budget = self.rate_budget
        return {
            "system": SYSTEM,
            "status": "connected",
            "flavour": self.flavour,
            "url": _display_url(self.base_url),
            "user_name": me.get("user_name"),
            "user_id": me.get("id"),
            "email": me.get("email1"),
            "sync_enabled": self.settings.vtiger_sync_enabled,
            "rate_limit": budget.as_dict() if budget else None,
        }

    async def check_timelog_fields(self) -> dict[str, str]:
        """Map what -> configured vTiger field name, after checking each exists in ``describe``."""
        module = self.settings.vtiger_timelog_module
        try:
            names = await self.field_names(module)
        except (AccessDenied, NotFound) as error:
            raise ConfigurationError(
                SYSTEM,
                f"module {module} is unknown or not readable by this user (setting VTIGER_TIMELOG_MODULE)",
                code=error.code,
            ) from None
        mapping = {what: getattr(self.settings, attr) for what, attr in TIMELOG_FIELD_SETTINGS}
        missing = [
            f"module {module} has no field '{getattr(self.settings, attr)}' (setting {attr.upper()})"
            for what, attr in TIMELOG_FIELD_SETTINGS
            if mapping[what] and mapping[what] not in names
        ]
        if missing:
            raise ConfigurationError(SYSTEM, "; ".join(missing))
        return {what: name for what, name in mapping.items() if name}

    async def timelogs(self, modified_since: datetime | None = None) -> list[VtigerTimelog]:
        """Time entries from the ``VTIGER_TIMELOG_MODULE`` module changed after ``modified_since``."""
        mapping = await self.check_timelog_fields()
        rows = await self.modified_since(self.settings.vtiger_timelog_module, modified_since)
        return [_timelog(row, mapping) for row in rows]


def _timelog(row: Mapping[str, Any], mapping: Mapping[str, str]) -> VtigerTimelog:
    def value(what: str) -> str:
        name = mapping.get(what)
        raw = row.get(name) if name else None
        return "" if raw is None else str(raw)

    return VtigerTimelog(
        id=str(row.get("id", "")),
        account_id=value("account_id"),
        contact_id=value("contact_id"),
        date=value("date"),
        duration=value("duration"),
        description=value("description"),
        billable=truthy(value("billable")),
        case_id=value("case_id"),
        modified_time=str(row.get("modifiedtime", "")),
        raw=row,
    )


async def connection_test(settings: Settings) -> dict[str, Any]:
    """Open a client, ask who we are, close it: the CLI's ``check`` prints the dict as JSON."""
    async with VtigerClient(settings) as client:
        return await client.connection_test()


async def timelogs(
    settings: Settings, modified_since: datetime | None = None, *, client: VtigerClient | None = None
) -> list[VtigerTimelog]:
    """Timelogs changed after ``modified_since``, with their field names checked against ``describe``."""
    if client is not None:
        return await client.timelogs(modified_since)
    async with VtigerClient(settings) as own:
        return await own.timelogs(modified_since)
