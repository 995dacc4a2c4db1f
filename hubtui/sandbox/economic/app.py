"""The sandbox e-conomic's HTTP side: auth and content type, paging, idempotency replay, error bodies and
the endpoints, plus the `/_sandbox/...` controls, wrapped in the fault layer.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hubtui.sandbox.economic.agreement import agreement, reference_documents
from hubtui.sandbox.economic.customers import render_customer, validate_customer
from hubtui.sandbox.economic.drafts import build_draft, validate_draft
from hubtui.sandbox.economic.errors import EconomicError, FieldError, error_body, not_found, validation_failed
from hubtui.sandbox.economic.state import CachedAnswer, EconomicState
from hubtui.sandbox.faults import SandboxMiddleware, control_routes, json_bytes

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 20
IDEMPOTENCY_TTL_S = 3600.0


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _page(request: Request, path: str, numbers: list[int], total_without_filter: int,
          encode: Callable[[int], bytes], meta: dict[str, Any]) -> Response:
    """One page of a collection; `encode(n)` is item n as JSON (the customers' comes from a cache)."""
    params = request.query_params
    try:
        size = int(params.get("pagesize", DEFAULT_PAGE_SIZE))
        skip = int(params.get("skippages", 0))
    except ValueError:
        raise EconomicError(400, "pagesize and skippages must be whole numbers.", "E00300",
                            "Use pagesize=1..1000 and skippages>=0.") from None
    if not 1 <= size <= MAX_PAGE_SIZE or skip < 0:
        raise EconomicError(400, f"pagesize must be between 1 and {MAX_PAGE_SIZE}, skippages 0 or more.",
                            "E00300", "Use pagesize=1..1000 and skippages>=0.")
    extra = {k: params[k] for k in ("filter", "sort") if params.get(k)}

    def link(page: int) -> str:
        return f"{_base(request)}{path}?{urlencode({'skippages': page, 'pagesize': size, **extra})}"

    last = max(0, math.ceil(len(numbers) / size) - 1)
    pagination: dict[str, Any] = {"maxPageSizeAllowed": MAX_PAGE_SIZE, "skipPages": skip, "pageSize": size,
                                  "results": len(numbers), "resultsWithoutFilter": total_without_filter,
                                  "firstPage": link(0)}
    if skip > 0:
        pagination["previousPage"] = link(min(skip - 1, last))
    if skip < last:
        pagination["nextPage"] = link(skip + 1)
    pagination["lastPage"] = link(last)
    collection = b",".join([encode(n) for n in numbers[skip * size:(skip + 1) * size]])
    rest = json_bytes({"pagination": pagination, "metaData": meta, "self": link(skip)})
    # Byte for byte the JSONResponse of {"collection": [...], "pagination": ..., "metaData": ..., "self": ...}.
    return Response(b'{"collection":[' + collection + b"]," + rest[1:], media_type="application/json")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        # Decimals keep "12.345" distinguishable from "12.35": the 2-decimal rules depend on it.
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise EconomicError(400, "The request body is not valid JSON.", "E00010",
                            "Send a JSON document with Content-Type: application/json.") from None


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(state: EconomicState, handler: Handler, *, idempotent: bool = False) -> Handler:
    """Auth, content type, idempotency replay and error rendering around one endpoint."""

    async def endpoint(request: Request) -> Response:
        try:
            secret = request.headers.get("x-appsecrettoken", "")
            grant = request.headers.get("x-agreementgranttoken", "")
            if not (secrets.compare_digest(secret.encode(), state.app_secret.encode())
                    and secrets.compare_digest(grant.encode(), state.grant.encode())):
                raise EconomicError(401, "Unauthorized: missing or invalid X-AppSecretToken or "
                                         "X-AgreementGrantToken.", "E00500",
                                    "Send both tokens on every request.")
            if request.method in {"POST", "PUT"} and \
                    "application/json" not in request.headers.get("content-type", ""):
                raise EconomicError(415, "Unsupported media type.", "E00020",
                                    "Send Content-Type: application/json.")
            key = request.headers.get("idempotency-key", "") if idempotent else ""
            if key:
                return await _idempotent(state, key, handler, request)
            return await handler(request)
        except EconomicError as error:
            return _error_response(state, error)

    return endpoint


def _error_response(state: EconomicState, error: EconomicError) -> JSONResponse:
    return JSONResponse(error_body(error, errors_as_array=state.faults.errors_as_array),
                        status_code=error.status)


async def _idempotent(state: EconomicState, key: str, handler: Handler, request: Request) -> Response:
    now = time.monotonic()
    for stale in [k for k, v in state.idempotency.items() if v.expires <= now]:
        del state.idempotency[stale]
    cached = state.idempotency.get(key)
    if cached is not None:
        return Response(cached.body, cached.status, headers={**cached.headers, "X-ResultFromCache": "true"},
                        media_type="application/json")
    try:
        response = await handler(request)
    except EconomicError as error:
        response = _error_response(state, error)
    if response.status_code < 500:  # a server failure is worth retrying, so it is not remembered
        kept = {k: v for k, v in response.headers.items() if k.lower() == "location"}
        state.idempotency[key] = CachedAnswer(response.status_code, bytes(response.body), kept,
                                              now + IDEMPOTENCY_TTL_S)
    return response


def _number(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise not_found() from None


def create_economic_app(state: EconomicState) -> SandboxMiddleware:
    """The ASGI app: the e-conomic endpoints plus `/_sandbox/...` controls, wrapped in the fault layer."""

    async def get_self(request: Request) -> Response:
        return JSONResponse(agreement(_base(request)))

    async def list_customers(request: Request) -> Response:
        numbers = state.listing("customers", request.query_params.get("filter", ""),
                                request.query_params.get("sort", ""))
        base = _base(request)
        meta = {"create": {"description": "Create a new customer.", "href": f"{base}/customers",
                           "httpMethod": "post"}}
        return _page(request, "/customers", numbers, len(state.customers),
                     lambda n: state.customer_json(n, base), meta)

    async def get_customer(request: Request) -> Response:
        number = _number(request.path_params["number"])
        if number not in state.customers:
            raise not_found()
        return Response(state.customer_json(number, _base(request)), media_type="application/json")

    async def put_customer(request: Request) -> Response:
        number = _number(request.path_params["number"])
        body = await _json_body(request)
        if number not in state.customers:
            raise not_found()
        clean = validate_customer(body, state, number)
        state.customers[number] = {"customerNumber": number, **clean, "lastUpdated": state.stamp()}
        state.version += 1
        return JSONResponse(render_customer(state.customers[number], _base(request)))

    async def post_customer(request: Request) -> Response:
        body = await _json_body(request)
        clean = validate_customer(body, state, None)
        number = body.get("customerNumber") if isinstance(body, dict) else None
        if number is None:
            number = max(state.customers, default=0) + 1
        if not isinstance(number, int) or isinstance(number, bool) or number < 1 or number in state.customers:
            raise validation_failed([FieldError(("customerNumber",), "Customer number is already in use.",
                                                "E00140", number)])
        state.customers[number] = {"customerNumber": number, **clean, "lastUpdated": state.stamp()}
        state.version += 1
        doc = render_customer(state.customers[number], _base(request))
        return JSONResponse(doc, status_code=201, headers={"Location": doc["self"]})

    async def list_drafts(request: Request) -> Response:
        numbers = state.listing("drafts", request.query_params.get("filter", ""),
                                request.query_params.get("sort", ""))
        return _page(request, "/orders/drafts", numbers, len(state.drafts),
                     lambda n: json_bytes(state.drafts[n]), {})

    async def get_draft(request: Request) -> Response:
        draft = state.drafts.get(_number(request.path_params["number"]))
        if draft is None:
            raise not_found()
        return JSONResponse(draft)

    async def post_draft(request: Request) -> Response:
        body = await _json_body(request)
        errors = validate_draft(body, state)
        if errors:
            raise validation_failed(errors)
        number = state.next_order_number
        state.next_order_number += 1
        draft = build_draft(body, number, _base(request))
        state.drafts[number] = draft
        state.version += 1
        return JSONResponse(draft, status_code=201, headers={"Location": draft["self"]})

    def guard(handler: Handler, idempotent: bool = False) -> Handler:
        return _guarded(state, handler, idempotent=idempotent)

    routes = [
        Route("/self", guard(get_self), methods=["GET"]),
        Route("/customers", guard(list_customers), methods=["GET"]),
        Route("/customers", guard(post_customer, True), methods=["POST"]),
        Route("/customers/{number}", guard(get_customer), methods=["GET"]),
        Route("/customers/{number}", guard(put_customer, True), methods=["PUT"]),
        Route("/orders/drafts", guard(list_drafts), methods=["GET"]),
        Route("/orders/drafts", guard(post_draft, True), methods=["POST"]),
        Route("/orders/drafts/{number}", guard(get_draft), methods=["GET"]),
        *_reference_routes(state, guard),
        *control_routes(state),
    ]

    async def unknown(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        error = not_found() if status == 404 else EconomicError(status, "The request could not be handled.")
        return _error_response(state, error)

    app = Starlette(routes=routes, exception_handlers={404: unknown, 405: unknown})
    return SandboxMiddleware(app, state)


def _reference_routes(state: EconomicState, guard: Callable[[Handler], Handler]) -> list[Route]:
    """Read-only lists a connector may check its settings against (layouts, products, ...)."""

    def with_self(doc: dict[str, Any], base: str, collection: str, key: int | str) -> dict[str, Any]:
        return {**doc, "self": f"{base}/{collection}/{key}"}

    def listing(collection: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            base = _base(request)
            items = reference_documents(base)[collection]
            keys = list(items)
            ordered = list(range(len(keys)))
            return _page(request, f"/{collection}", ordered, len(keys),
                         lambda i: json_bytes(with_self(items[keys[i]], base, collection, keys[i])), {})
        return endpoint

    def single(collection: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            base = _base(request)
            items = reference_documents(base)[collection]
            raw = request.path_params["key"]
            key: int | str = raw if collection == "products" else _number(raw)
            if key not in items:
                raise not_found()
            return JSONResponse(with_self(items[key], base, collection, key))
        return endpoint

    names = ("customer-groups", "payment-terms", "vat-zones", "layouts", "units", "products")
    return [route for name in names for route in (
        Route(f"/{name}", guard(listing(name)), methods=["GET"]),
        Route(f"/{name}/{{key}}", guard(single(name)), methods=["GET"]),
    )]
