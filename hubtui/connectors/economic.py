"""e-conomic REST connector: customers (read, full-replacement update) and draft orders.

Every request carries ``X-AppSecretToken``, ``X-AgreementGrantToken`` and ``Content-Type``. Lists page at
1000 with ``skippages``, several pages in flight at a time (see ``_collection``).

Writes are gated below the UI (see ``safety.py`` and ``base.py``):

* customer updates by ``ECONOMIC_SYNC_ENABLED`` / ``ECONOMIC_READ_ONLY`` / ``ECONOMIC_DRY_RUN``;
* draft orders by ``TIMETRACKING_ECONOMIC_READ_ONLY`` / ``TIMETRACKING_ECONOMIC_DRY_RUN``.

A customer update is GET, change, PUT of the whole customer (e-conomic has no PATCH): the body keeps only
the properties the PUT schema lets us write, never sends ``null`` (an absent field is an empty one), and
``expected_last_updated`` refuses to overwrite a change someone made after our read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from hubtui.config import Settings
from hubtui.connectors.base import (
    AuthError,
    ChangedSinceRead,
    ConfigurationError,
    ConnectorError,
    HttpCore,
    MalformedResponse,
    RateBudget,
    RemoteClient,
    RetryPolicy,
    WriteResult,
    error_class_for_status,
    json_or_none,
    parse_json,
    without_empty,
)
from hubtui.connectors.safety import decide
from hubtui.core.safety import economic_customer_gate, economic_draft_order_gate

SYSTEM = "economic"
PAGE_SIZE = 1000  # e-conomic's maximum page size
CREDENTIAL_HINT = "check ECONOMIC_APP_SECRET_TOKEN and ECONOMIC_AGREEMENT_GRANT_TOKEN"

# The writable properties of customers.customerNo.put.schema.json (``balance`` is read-only there).
# Everything else a GET returns (self, lastUpdated, metaData, contacts, templates, totals, invoices,
# deliveryLocations, dueAmount ...) is left out of the PUT body.
CUSTOMER_PUT_FIELDS = frozenset(
    {
        "address", "attention", "barred", "city", "corporateIdentificationNumber", "country", "creditLimit",
        "currency", "customerContact", "customerGroup", "customerNumber", "defaultDeliveryLocation", "ean",
        "eInvoicingDisabledByDefault", "email", "layout", "mobilePhone", "name", "paymentTerms", "pNumber",
        "priceGroup", "publicEntryNumber", "salesPerson", "telephoneAndFaxNumber", "vatNumber", "vatZone",
        "website", "zip",
    }
)  # fmt: skip

_FILTER_SPECIALS = "$()*,[]"
_INDEX = re.compile(r"\[(\d+)\]")


def filter_value(value: object) -> str:
    """A value for e-conomic's ``filter=``: ``$ ( ) * , [ ]`` escaped by a leading ``$``."""
    return "".join(f"${char}" if char in _FILTER_SPECIALS else char for char in str(value))


def economic_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC (naive datetimes count as UTC), the format of ``lastUpdated``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonable(value: Any) -> Any:
    """Decimals as numbers and dates as ISO strings, so the payload we report is the one we send."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and value.as_tuple().exponent >= 0
            else float(value)
        )
    if isinstance(value, datetime):
        return economic_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def field_errors(
    errors: Any, path: tuple[str, ...] = (), *, in_errors: bool = False
) -> list[tuple[str, str]]:
    """``(field, errorMessage)`` pairs from an ``errors`` member, whether it is an array of errors or an
    object mirroring the payload (``{"customerGroup": {"errors": [...]}}``), however deeply nested.

    In the object form a payload array may appear as ``{"lines": {"items": [...]}}`` (JSON-schema style);
    ``items`` is then left out of the field name, which becomes ``lines.0.quantity``.
    """
    found: list[tuple[str, str]] = []
    if isinstance(errors, dict):
        if "errorMessage" in errors:
            # The array form names the field itself ("lines[0].quantity"): spelled here like the object form.
            name = ".".join(path) or _INDEX.sub(r".\1", str(errors.get("propertyName") or ""))
            return [(name, str(errors["errorMessage"]))]
        for key, item in errors.items():
            if key == "errors":
                found += field_errors(item, path, in_errors=True)
            elif key == "items" and isinstance(item, list):
                found += field_errors(item, path)
            elif isinstance(item, dict | list):
                found += field_errors(item, (*path, str(key)))
    elif isinstance(errors, list):
        for index, item in enumerate(errors):
            # Items of an "errors" array are errors of one field; items of a payload array are its lines.
            found += field_errors(item, path if in_errors or not path else (*path, str(index)))
    return found


def customer_put_body(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The full customer to PUT: ``current`` reduced to writable properties, with ``changes`` applied.

    A change to ``None`` or ``""`` clears the field by leaving it out, as e-conomic rejects ``null``.
    """
    unknown = sorted(set(changes) - CUSTOMER_PUT_FIELDS)
    if unknown:
        raise ValueError(f"e-conomic customers have no writable field {', '.join(unknown)}")
    body = {key: value for key, value in current.items() if key in CUSTOMER_PUT_FIELDS}
    for key, value in changes.items():
        if value is None or value == "":
            body.pop(key, None)
        else:
            body[key] = value
    return jsonable(without_empty(body))


class EconomicClient(RemoteClient):
    """Async e-conomic client. Use ``async with EconomicClient(settings) as books:`` (or ``aclose()``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = str(settings.economic_api_url).rstrip("/")
        self._app_secret = settings.economic_app_secret_token.get_secret_value()
        self._grant = settings.economic_agreement_grant_token.get_secret_value()
        config_error = None
        if not self._app_secret or not self._grant:
            config_error = ConfigurationError(
                SYSTEM,
                "ECONOMIC_APP_SECRET_TOKEN and ECONOMIC_AGREEMENT_GRANT_TOKEN must both be set",
                code="NOT_CONFIGURED",
            )
        concurrency = settings.economic_max_concurrency
        self._concurrency = concurrency  # also how many pages of a collection are asked for at once
        http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "X-AppSecretToken": self._app_secret,
                "X-AgreementGrantToken": self._grant,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "hubtui",
            },
            timeout=httpx.Timeout(settings.http_timeout_seconds),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
        )
        self._core = HttpCore(
            system=SYSTEM,
            client=http,
            max_concurrency=concurrency,
            retry=replace(retry or RetryPolicy(), max_retries=settings.http_max_retries),
            timeout_seconds=settings.http_timeout_seconds,
            error_factory=self._error_from_response,
            secrets=lambda: (self._app_secret, self._grant),
            config_error=config_error,
        )
        self.logger = logging.getLogger(f"hubtui.connectors.{SYSTEM}")

    def __repr__(self) -> str:
        return f"EconomicClient(url={self.base_url!r})"

    @property
    def rate_budget(self) -> RateBudget | None:
        """Always ``None``: e-conomic documents no rate-limit headers (only 50,000 calls a day)."""
        return None

    def _error_from_response(self, response: httpx.Response, label: str) -> ConnectorError:
        status = response.status_code
        body = json_or_none(response)
        cls = error_class_for_status(status)
        if isinstance(body, dict):
            message = str(body.get("message") or f"{label} answered HTTP {status}")
            code = str(body.get("errorCode") or "") or None
            log_id = str(body.get("logId") or "") or None
            problems = field_errors(body.get("errors"))
        else:
            message, code, log_id, problems = f"{label} answered HTTP {status}", None, None, []
        if cls is AuthError:
            message = f"{message} ({CREDENTIAL_HINT})"
        return cls(
            SYSTEM, self._core.redact(message), code=code, field_errors=problems, log_id=log_id, status=status
        )

    async def _json(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Any, httpx.Response]:
        label = f"{method} {path}"
        response = await self._core.request(method, path, params=params, label=label, **kwargs)
        if not 200 <= response.status_code < 300:
            raise self._error_from_response(response, label)
        body = parse_json(response, SYSTEM, label, self._core.redact) if response.content else None
        return body, response

    async def _get(
        self, path: str, params: Mapping[str, Any] | None = None, *, label: str | None = None,
        collection: bool = False,
    ) -> dict[str, Any]:
        """The JSON object ``GET path`` answers (with a ``collection`` list when asked for), parsed and
        checked inside the retries: a cut or garbled answer is asked for again like a 5xx."""
        label = label or f"GET {path}"

        def parse(response: httpx.Response) -> dict[str, Any]:
            if not 200 <= response.status_code < 300:
                raise self._error_from_response(response, label)
            body = parse_json(response, SYSTEM, label, self._core.redact) if response.content else None
            if not isinstance(body, dict):
                raise MalformedResponse(SYSTEM, f"{label} answered without an object", status=response.status_code)
            if collection and not isinstance(body.get("collection"), list):
                raise MalformedResponse(SYSTEM, f"{label} answered without a collection",
                                        status=response.status_code)
            return body

        return await self._core.request("GET", path, params=params, label=label, parse=parse)

    async def self_info(self) -> dict[str, Any]:
        """``GET /self``: the agreement, company and user the tokens belong to."""
        return await self._get("/self")

    async def _collection(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every item of a paged collection, in page order.

        Pages 0 .. concurrency-1 are asked for together: page 0 tells how many pages there are, and
        waiting for it before asking for any other would cost a round trip on every read of more than one
        page. Once page 0 has answered, the pages after the first round are asked for (at most
        ``ECONOMIC_MAX_CONCURRENCY`` in flight, as for every request). A collection smaller than the
        first round so costs up to concurrency-1 extra requests for empty pages: cheap against
        e-conomic's daily quota, and it has no per-minute limit. They are not waited for, but they went
        out with page 0 and are normally answered by the time the needed pages are in; one that is not
        is cancelled then (cancelling answered ones would only cost their connections).
        """
        tasks: dict[int, asyncio.Task[dict[str, Any]]] = {}

        async def fetch(number: int) -> dict[str, Any]:
            # Named by page, so a page that keeps failing is named in the error the caller reports.
            return await self._get(path, {**params, "pagesize": PAGE_SIZE, "skippages": number},
                                   label=f"GET {path} page {number + 1} (skippages={number})", collection=True)

        def page(number: int) -> asyncio.Task[dict[str, Any]]:
            if number not in tasks:
                tasks[number] = asyncio.create_task(fetch(number))
            return tasks[number]

        try:
            for number in range(self._concurrency):
                page(number)
            first = await page(0)
            pagination = first.get("pagination") or {}
            results, size = pagination.get("results"), pagination.get("pageSize") or PAGE_SIZE
            if isinstance(results, int) and isinstance(size, int) and size > 0:
                count = max(1, math.ceil(results / size))
                bodies = await asyncio.gather(*(page(number) for number in range(count)))
            else:
                # No count to plan by: follow nextPage, using the pages already asked for.
                bodies = [first]
                while (bodies[-1].get("pagination") or {}).get("nextPage") and bodies[-1]["collection"]:
                    bodies.append(await page(len(bodies)))
        finally:
            # Pages nobody needs (past the end, or after a failure) are not left running.
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        return [item for body in bodies for item in body["collection"]]

    async def customers(self, updated_since: datetime | None = None) -> list[dict[str, Any]]:
        """All customers, or those whose ``lastUpdated`` is after ``updated_since``."""
        params: dict[str, Any] = {"sort": "customerNumber"}
        if updated_since is not None:
            params["filter"] = f"lastUpdated$gt:{filter_value(economic_timestamp(updated_since))}"
        return await self._collection("/customers", params)

    async def get_customer(self, customer_number: int) -> dict[str, Any]:
        return await self._get(f"/customers/{int(customer_number)}")

    async def update_customer(
        self,
        customer_number: int,
        changes: Mapping[str, Any],
        *,
        expected_last_updated: str | None = None,
        idempotency_key: str | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> WriteResult:
        """GET the customer, apply ``changes``, PUT the whole customer back.

        ``expected_last_updated`` (the ``lastUpdated`` of the read the changes were based on) makes the
        write refuse with ``ChangedSinceRead`` when the customer has changed since. Under dry-run the GET
        still happens, so the reported payload is exactly what would be sent. ``current`` is the customer
        as the caller GOT it just before (to check more than ``lastUpdated`` on it): it replaces the GET.

        The PUT is retried with one ``Idempotency-Key`` (e-conomic replays the first answer); an error that
        still leaves its fate unknown (``ConnectorTimeout``, ``Unavailable``, ``MalformedResponse``) is
        settled by reading the customer back.
        """
        path = f"/customers/{int(customer_number)}"
        gate = economic_customer_gate(self.settings)
        decision = decide(gate, "PUT", path)  # raises WriteBlocked under read-only, before any request
        if decision == "disabled":
            return WriteResult(SYSTEM, "disabled", "PUT", path, payload=None, reason=gate.reason)
        if current is None:
            current = await self.get_customer(customer_number)
        actual = current.get("lastUpdated")
        if expected_last_updated is not None and actual != expected_last_updated:
            raise ChangedSinceRead(
                SYSTEM,
                f"customer {customer_number} was changed in e-conomic at {actual} after it was read "
                f"({expected_last_updated}); read it again before writing",
                expected=expected_last_updated,
                actual=actual,
            )
        body = customer_put_body(current, changes)
        if decision == "dry_run":
            return WriteResult(SYSTEM, "dry_run", "PUT", path, payload=body, reason=gate.reason)
        # The key makes a retried PUT (after a timeout or 5xx) safe to repeat.
        key = idempotency_key or str(uuid.uuid4())
        answer, response = await self._json("PUT", path, json_body=body, headers={"Idempotency-Key": key})
        self.logger.info("e-conomic customer %s updated (%s)", customer_number, ", ".join(sorted(changes)))
        return WriteResult(
            SYSTEM, "written", "PUT", path, payload=body, response=answer, replayed=_from_cache(response)
        )

    async def create_draft_order(self, payload: Mapping[str, Any], idempotency_key: str) -> WriteResult:
        """``POST /orders/drafts``; ``response["orderNumber"]`` is the new draft's number.

        ``idempotency_key`` must be stable for one export (e.g. derived from the hub's order id): a retry
        with the same key returns the original draft instead of creating a second one.
        """
        if not idempotency_key:
            raise ValueError("create_draft_order needs an idempotency_key")
        path = "/orders/drafts"
        gate = economic_draft_order_gate(self.settings)
        body = jsonable(without_empty(payload))
        decision = decide(gate, "POST", path)
        if decision != "write":
            self.logger.info("e-conomic draft order not sent (%s): %s", decision, gate.reason)
            return WriteResult(SYSTEM, decision, "POST", path, payload=body, reason=gate.reason)
        answer, response = await self._json(
            "POST", path, json_body=body, headers={"Idempotency-Key": idempotency_key}
        )
        if not isinstance(answer, dict) or "orderNumber" not in answer:
            raise MalformedResponse(SYSTEM, f"POST {path} answered without an orderNumber")
        self.logger.info("e-conomic draft order %s created", answer["orderNumber"])
        return WriteResult(
            SYSTEM, "written", "POST", path, payload=body, response=answer, replayed=_from_cache(response)
        )

    async def find_drafts_by_reference(self, other: str) -> list[dict[str, Any]]:
        """Every draft order whose ``references.other`` is exactly ``other`` (filterable on drafts)."""
        body = await self._get(
            "/orders/drafts",
            {"filter": f"references.other$eq:{filter_value(other)}", "pagesize": PAGE_SIZE},
        )
        collection = body.get("collection") if isinstance(body, dict) else None
        if not isinstance(collection, list):
            raise MalformedResponse(SYSTEM, "GET /orders/drafts answered without a collection")
        # Compare again locally: a server that treats the filter loosely must not hand us a stranger's draft.
        return [item for item in collection
                if isinstance(item, dict) and (item.get("references") or {}).get("other") == other]

    async def get_draft(self, order_number: int) -> dict[str, Any]:
        """``GET /orders/drafts/{orderNumber}``: one draft order."""
        body = await self._get(f"/orders/drafts/{int(order_number)}")
        if not isinstance(body, dict):
            raise MalformedResponse(SYSTEM, f"GET /orders/drafts/{order_number} answered without an object")
        return body

    async def connection_test(self) -> dict[str, Any]:
        """The agreement the tokens open, plus the write flags in force; raises a typed error otherwise."""
        info = await self.self_info()
        settings = self.settings
        return {
            "system": SYSTEM,
            "status": "connected",
            "url": self.base_url,
            "read_only": settings.economic_read_only,
            "dry_run": settings.economic_dry_run,
            "sync_enabled": settings.economic_sync_enabled,
            "timetracking_read_only": settings.timetracking_economic_read_only,
            "timetracking_dry_run": settings.timetracking_economic_dry_run,
            "agreement_number": info.get("agreementNumber"),
            "company": (info.get("company") or {}).get("name"),
            "user_name": info.get("userName"),
        }


def _from_cache(response: httpx.Response) -> bool:
    return response.headers.get("X-ResultFromCache", "").lower() == "true"


async def connection_test(settings: Settings) -> dict[str, Any]:
    """Open a client, read ``/self``, close it: the CLI's ``check`` prints the dict as JSON."""
    async with EconomicClient(settings) as client:
        return await client.connection_test()
