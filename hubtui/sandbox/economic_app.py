"""A local e-conomic REST API: customers, draft orders and the agreement, in memory.

Behaves like restapi.e-conomic.com as described in shared/api/economic.md:
- every request needs `X-AppSecretToken` and `X-AgreementGrantToken` (401 otherwise); POST/PUT need
  `Content-Type: application/json` (415 otherwise);
- collections are paged (`pagesize` default 20, at most 1000, `skippages`), filterable (`filter=` with
  `$eq $ne $gt $gte $lt $lte $like $in $nin $null`, `$and:`/`$or:`, parentheses, `$`-escapes) and
  sortable (`sort=customerNumber`, `-name`, comma-separated); the last page has no `nextPage`;
- `PUT /customers/{n}` replaces the whole customer: a missing field is cleared, `null` is rejected,
  required `name, currency, customerGroup, paymentTerms, vatZone`, schema max lengths; `lastUpdated` bumps;
- `POST /orders/drafts` validates like the real service (E04730, E04740, E04500, unknown customer) and
  answers 201 with the draft, its `orderNumber` and `self`;
- `Idempotency-Key` on POST/PUT: a repeat within an hour replays the first answer with
  `X-ResultFromCache: true` and changes nothing.

Error bodies have the real shape (message, errorCode, developerHint, logId, httpStatusCode, logTime,
errorCount, errors). Real codes: E04300 (validation failed), E07140 (customer group not found), E04730,
E04740, E04500. The other codes (E001xx for property checks, E07150-E07210 for unknown references,
E003xx for bad query parameters, E00<status> for injected faults) are the sandbox's own,
stable but not e-conomic's.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hubtui.sandbox.faults import EconomicFaults, SandboxMiddleware, SandboxState, control_routes, json_bytes
from hubtui.sandbox.remote_data import RemoteData

ECONOMIC_APP_SECRET = "hubtui-sandbox-app-secret-token"
ECONOMIC_GRANT = "hubtui-sandbox-agreement-grant-token"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 20
IDEMPOTENCY_TTL_S = 3600.0
AGREEMENT_NUMBER = 9_120_426

CUSTOMER_GROUPS = {1: "Indenlandske kunder", 2: "EU-kunder", 3: "Udenlandske kunder"}
# number: (name, days of credit, type)
PAYMENT_TERMS = {
    1: ("Netto 8 dage", 8, "net"), 2: ("Netto 14 dage", 14, "net"), 3: ("Netto 30 dage", 30, "net"),
    4: ("Løbende måned + 30 dage", 30, "invoiceMonth"), 5: ("Kontant", 0, "paidInCash"),
}
VAT_ZONES = {1: ("Domestic", Decimal("0.25")), 2: ("EU", Decimal(0)), 3: ("Abroad", Decimal(0)),
             4: ("Domestic exempt", Decimal(0))}
LAYOUTS = {16: "Faktura med logo", 19: "Standard", 20: "Ordrebekræftelse"}
UNITS = {1: "stk.", 2: "timer", 3: "km"}
# number: (name, sales price, unit)
PRODUCTS = {"1": ("Konsulenttimer", Decimal("850.00"), 2), "2": ("Kørsel", Decimal("250.00"), 1),
            "100": ("Servicekontrakt, måned", Decimal("1995.00"), 1)}
CURRENCIES = frozenset({"DKK", "EUR", "SEK", "NOK", "USD", "GBP"})

# Writable customer fields (schema customers.customerNo.put): plain values with their type and max length.
CUSTOMER_TEXT = {
    "name": 255, "address": 510, "zip": 30, "city": 50, "country": 50, "corporateIdentificationNumber": 40,
    "pNumber": 10, "vatNumber": 20, "ean": 13, "publicEntryNumber": 50, "telephoneAndFaxNumber": 255,
    "mobilePhone": 50, "email": 255, "website": 255, "currency": 3,
}
CUSTOMER_FLAGS = ("barred", "eInvoicingDisabledByDefault")
# reference property: (key inside it, collection for its `self` link)
CUSTOMER_REFS = {
    "customerGroup": ("customerGroupNumber", "customer-groups"),
    "paymentTerms": ("paymentTermsNumber", "payment-terms"),
    "vatZone": ("vatZoneNumber", "vat-zones"),
    "layout": ("layoutNumber", "layouts"),
    "attention": ("customerContactNumber", "contacts"),
    "customerContact": ("customerContactNumber", "contacts"),
    "salesPerson": ("employeeNumber", "employees"),
    "defaultDeliveryLocation": ("deliveryLocationNumber", "delivery-locations"),
}
REQUIRED_REFS = ("customerGroup", "paymentTerms", "vatZone")


# ------------------------------------------------------------------------------------------------- errors

@dataclass
class FieldError:
    path: tuple[str | int, ...]
    message: str
    code: str
    input_value: Any = None
    hint: str = ""


class EconomicError(Exception):
    def __init__(self, status: int, message: str, code: str = "", hint: str = "",
                 field_errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.hint = status, message, code, hint
        self.field_errors = field_errors or []


def validation_failed(errors: list[FieldError]) -> EconomicError:
    count = len(errors)
    return EconomicError(400, f"Validation failed. {count} error{'' if count == 1 else 's'} found.", "E04300",
                         "Inspect validation errors and correct your request.", errors)


def not_found() -> EconomicError:
    return EconomicError(404, "Resource not found.", "", _NOT_FOUND_HINT)


_NOT_FOUND_HINT = (
    "The API tries to provide all the resource urls you need. If you have hard coded urls yourself, then try "
    "to look at the enclosing collection for hypermedia information on where the resource you are looking "
    "for could be."
)


def _log_id() -> str:
    return f"{secrets.token_hex(8)}-CPH"


def error_body(error: EconomicError, *, errors_as_array: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"message": error.message}
    if error.code:
        body["errorCode"] = error.code
    body.update(developerHint=error.hint, logId=_log_id(), httpStatusCode=error.status,
                logTime=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    if error.field_errors:
        body["errorCount"] = len(error.field_errors)
        body["errors"] = (_errors_array(error.field_errors) if errors_as_array
                          else _errors_object(error.field_errors))
    return body


def _field_error_json(error: FieldError, property_name: str) -> dict[str, Any]:
    item: dict[str, Any] = {"propertyName": property_name, "errorMessage": error.message,
                            "errorCode": error.code, "inputValue": _plain(error.input_value)}
    if error.hint:
        item["developerHint"] = error.hint
    return item


def _errors_array(errors: list[FieldError]) -> list[dict[str, Any]]:
    # No structure to mirror the payload with, so propertyName carries the whole path: lines[0].quantity.
    def dotted(path: tuple[str | int, ...]) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")

    return [_field_error_json(error, dotted(error.path)) for error in errors]


def _errors_object(errors: list[FieldError]) -> dict[str, Any]:
    """Mirror the payload: {"customerGroup": {"errors": [...]}}, arrays as {"lines": {"items": [...]}}."""
    root: dict[str, Any] = {}
    for error in errors:
        node: dict[str, Any] = root
        for part in error.path:
            if isinstance(part, int):
                items: list[dict[str, Any]] = node.setdefault("items", [])
                items.extend({} for _ in range(part + 1 - len(items)))
                node = items[part]
            else:
                node = node.setdefault(part, {})
        leaf = next((p for p in reversed(error.path) if isinstance(p, str)), "")
        node.setdefault("errors", []).append(_field_error_json(error, leaf))
    return root


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# ------------------------------------------------------------------------------------------------- filter

Doc = Mapping[str, Any]
Predicate = Callable[[Doc], bool]

_OPERATOR = re.compile(r"\$(eq|ne|gte|gt|lte|lt|like|in|nin|null):")
_SPECIAL = frozenset("$()*,[]")


class _FilterParser:
    """e-conomic's filter language: `name$eq:Joe$and:(city$like:*port$or:zip$in:[8000,8200])`."""

    def __init__(self, text: str, types: Mapping[str, str]) -> None:
        self.text, self.types, self.position = text, types, 0

    def fail(self, why: str) -> EconomicError:
        return EconomicError(400, f"The filter is invalid: {why}.", "E00310",
                             "See https://restdocs.e-conomic.com/#filtering for the filter syntax.")

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        if self.position != len(self.text):
            raise self.fail(f"unexpected text at position {self.position}")
        return predicate

    def at(self, word: str) -> bool:
        if self.text.startswith(word, self.position):
            self.position += len(word)
            return True
        return False

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.at("$or:"):
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_atom()]
        while self.at("$and:"):
            parts.append(self.parse_atom())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def parse_atom(self) -> Predicate:
        if self.at("("):
            inner = self.parse_or()
            if not self.at(")"):
                raise self.fail("missing ')'")
            return inner
        match = re.compile(r"[A-Za-z][A-Za-z0-9.]*").match(self.text, self.position)
        if match is None:
            raise self.fail(f"expected a property name at position {self.position}")
        name = match.group()
        self.position = match.end()
        if name not in self.types:
            raise self.fail(f"'{name}' cannot be filtered on")
        operator = _OPERATOR.match(self.text, self.position)
        if operator is None:
            raise self.fail(f"expected an operator after '{name}'")
        self.position = operator.end()
        op = operator.group(1)
        if op in {"in", "nin"}:
            if not self.at("["):
                raise self.fail(f"${op}: needs a [list]")
            values = [self.value(stop=",]")]
            while self.at(","):
                values.append(self.value(stop=",]"))
            if not self.at("]"):
                raise self.fail("missing ']'")
            return _compare(name, self.types[name], op, [v for v, _ in values])
        raw, wildcards = self.value(stop="")
        return _compare(name, self.types[name], op, raw, wildcards)

    def value(self, stop: str) -> tuple[str, list[bool]]:
        """Read up to the next operator/`)`/stop char; `$x` escapes x. Returns text + which chars are `*`."""
        chars: list[str] = []
        wild: list[bool] = []
        text = self.text
        while self.position < len(text):
            ch = text[self.position]
            if ch == "$":
                following = text[self.position + 1:self.position + 2]
                if following and following in _SPECIAL:
                    chars.append(following)
                    wild.append(False)
                    self.position += 2
                    continue
                break  # an operator such as $and: ends the value
            if ch == ")" or ch in stop:
                break
            if ch in "([]," and ch not in stop:
                raise self.fail(f"'{ch}' must be escaped as '${ch}'")
            chars.append(ch)
            wild.append(ch == "*")
            self.position += 1
        return "".join(chars), wild


def _lookup(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _typed(kind: str, raw: str) -> Any:
    if kind == "int":
        return int(raw)
    if kind == "number":
        return Decimal(raw)
    if kind == "bool":
        if raw.lower() not in {"true", "false"}:
            raise ValueError(raw)
        return raw.lower() == "true"
    if kind == "datetime" and len(raw) == 10:
        return f"{raw}T00:00:00Z"
    if kind == "datetime" and not raw.endswith("Z"):
        return f"{raw}Z"
    return raw


def _compare(name: str, kind: str, op: str, raw: Any, wildcards: list[bool] | None = None) -> Predicate:
    if op == "null":
        wanted_null = str(raw).lower() in {"", "true"}
        return lambda doc: (_lookup(doc, name) in (None, "")) == wanted_null
    try:
        wanted = [_typed(kind, v) for v in raw] if isinstance(raw, list) else _typed(kind, raw)
    except (ValueError, InvalidOperation):
        raise EconomicError(400, f"The filter is invalid: '{raw}' is not a valid value for {name}.",
                            "E00310", "Check the type of the property you filter on.") from None
    folded = kind == "str"

    def norm(value: Any) -> Any:
        if folded and isinstance(value, str):
            return value.casefold()
        if kind == "number" and value is not None and not isinstance(value, Decimal):
            return Decimal(str(value))
        if kind == "bool" and value is None:
            return False  # e-conomic leaves false booleans out
        return value

    if op == "like":
        marks = wildcards or []
        regex = "".join(".*" if wild else re.escape(ch) for ch, wild in zip(raw, marks, strict=True))
        if not any(wildcards or []):
            regex = f".*{regex}.*"  # without * it means "contains"
        pattern = re.compile(regex, re.IGNORECASE | re.DOTALL)
        return lambda doc: pattern.fullmatch(str(_lookup(doc, name) or "")) is not None
    if op in {"in", "nin"}:
        members = {norm(v) for v in wanted}
        inside = op == "in"
        return lambda doc: (norm(_lookup(doc, name)) in members) == inside
    target = norm(wanted)
    test = _TESTS[op]

    def predicate(doc: Doc) -> bool:
        value = norm(_lookup(doc, name))
        if value is None:
            return op == "ne"
        return test(value, target)

    return predicate


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}

CUSTOMER_FILTER_TYPES: dict[str, str] = {
    **dict.fromkeys(CUSTOMER_TEXT, "str"), **dict.fromkeys(CUSTOMER_FLAGS, "bool"),
    **{f"{ref}.{key}": "int" for ref, (key, _) in CUSTOMER_REFS.items()},
    "customerNumber": "int", "creditLimit": "number", "balance": "number", "dueAmount": "number",
    "lastUpdated": "datetime",
}
DRAFT_FILTER_TYPES: dict[str, str] = {
    "orderNumber": "int", "date": "str", "dueDate": "str", "currency": "str", "netAmount": "number",
    "grossAmount": "number", "vatAmount": "number", "customer.customerNumber": "int",
    "recipient.name": "str", "references.other": "str", "notes.heading": "str",
    "layout.layoutNumber": "int", "paymentTerms.paymentTermsNumber": "int",
}


# -------------------------------------------------------------------------------------------------- store

@dataclass
class _CachedAnswer:
    status: int
    body: bytes
    headers: dict[str, str]
    expires: float


class EconomicState(SandboxState):
    """One e-conomic agreement: `customers[number]` (absent fields = empty) and `drafts[orderNumber]`."""

    faults: EconomicFaults

    def __init__(self, data: RemoteData | None = None, faults: EconomicFaults | None = None, *,
                 app_secret: str = ECONOMIC_APP_SECRET, grant: str = ECONOMIC_GRANT) -> None:
        super().__init__(faults or EconomicFaults())
        self.app_secret, self.grant = app_secret, grant
        # Writes replace a customer dict, never change one, so copying the outer dict keeps `data` pristine.
        self.customers: dict[int, dict[str, Any]] = dict(data.economic_customers) if data else {}
        self.drafts: dict[int, dict[str, Any]] = {}
        self.next_order_number = 5001
        self.idempotency: dict[str, _CachedAnswer] = {}
        self.version = 0
        self._listing_cache: dict[tuple[str, str, str], tuple[int, list[int]]] = {}
        self._encoded_customers: dict[int, tuple[dict[str, Any], str, bytes]] = {}  # (customer, base, JSON)

    @property
    def records(self) -> dict[int, dict[str, Any]]:
        return self.customers

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        # The sandbox's own code per status (E00400, E00429, E00500, ...): real bodies always carry one.
        hint = ("Retry later; honour Retry-After when it is given." if status == 429 or status >= 500
                else "Correct the request before sending it again.")
        error = EconomicError(status, message, "E00500" if status >= 500 else f"E00{status}", hint)
        return JSONResponse(error_body(error, errors_as_array=False), status_code=status, headers=headers)

    def stamp(self) -> str:
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def customer_json(self, number: int, base: str) -> bytes:
        """`render_customer` encoded as JSON, kept while the customer is the stored one and the base URL the
        same. Writes store a new dict and never change one in place, so the identity check is all the
        invalidation needed; a page of 1000 then costs a join instead of ~45 ms of rendering and encoding."""
        customer = self.customers[number]
        cached = self._encoded_customers.get(number)
        if cached is not None and cached[0] is customer and cached[1] == base:
            return cached[2]
        data = json_bytes(render_customer(customer, base))
        self._encoded_customers[number] = (customer, base, data)
        return data

    def listing(self, kind: str, filter_text: str, sort: str) -> list[int]:
        """Numbers of matching customers/drafts in order, cached until the next write (cheap paging)."""
        key = (kind, filter_text, sort)
        cached = self._listing_cache.get(key)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        rows = self.customers if kind == "customers" else self.drafts
        types = CUSTOMER_FILTER_TYPES if kind == "customers" else DRAFT_FILTER_TYPES
        numbers = sorted(rows)
        if filter_text:
            predicate = _FilterParser(filter_text, types).parse()
            numbers = [n for n in numbers if predicate(rows[n])]
        for field_name in reversed([s for s in sort.split(",") if s.strip()]):
            descending = field_name.startswith("-")
            name = field_name.lstrip("-+").strip()
            if name not in types:
                raise EconomicError(400, f"Cannot sort by '{name}'.", "E00320", "Sort by a listed property.")
            numbers.sort(key=lambda n, f=name: _sort_key(_lookup(rows[n], f)), reverse=descending)
        if len(self._listing_cache) > 32:
            self._listing_cache.clear()
        self._listing_cache[key] = (self.version, numbers)
        return numbers


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.casefold())
    return (2, value)


# ---------------------------------------------------------------------------------------------- customers

def validate_customer(body: Any, state: EconomicState, number: int | None) -> dict[str, Any]:
    """The stored form of a PUT/POST body, or EconomicError with every problem found."""
    if not isinstance(body, dict):
        raise EconomicError(400, "The request body must be a JSON object.", "E00010", "Send a customer.")
    errors = list(_nulls(body, ()))
    clean: dict[str, Any] = {}
    for name, max_length in CUSTOMER_TEXT.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append(FieldError((name,), "Value must be a string.", "E00120", value))
        elif len(value) > max_length:
            errors.append(FieldError((name,), _too_long(max_length), "E00130", value))
        elif value.strip():
            clean[name] = value
    for name in CUSTOMER_FLAGS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, bool):
            errors.append(FieldError((name,), "Value must be true or false.", "E00120", value))
        elif value:
            clean[name] = True
    credit_limit = body.get("creditLimit")
    if credit_limit is not None:
        if _is_number(credit_limit):
            clean["creditLimit"] = _plain(credit_limit)
        else:
            errors.append(FieldError(("creditLimit",), "Value must be a number.", "E00120", credit_limit))
    for ref, (key, _) in CUSTOMER_REFS.items():
        value = body.get(ref)
        if value is None:
            if ref in REQUIRED_REFS and ref not in body:
                errors.append(FieldError((ref,), "Property is required.", "E00100", None))
            continue
        inner = value.get(key) if isinstance(value, dict) else None
        if not isinstance(inner, int) or isinstance(inner, bool):
            if isinstance(value, dict) and key not in value:
                errors.append(FieldError((ref, key), "Property is required.", "E00100", None))
            elif not (isinstance(value, dict) and value.get(key) is None):  # nulls reported above
                errors.append(FieldError((ref, key), "Value must be an integer.", "E00120", inner))
            continue
        clean[ref] = {key: inner}
    for name in ("name", "currency"):
        if name not in clean and not any(e.path == (name,) for e in errors):
            errors.append(FieldError((name,), "Property is required.", "E00100", body.get(name)))
    errors.extend(_unknown_references(clean))
    if "customerNumber" in body and body["customerNumber"] is not None and body["customerNumber"] != number \
            and number is not None:
        errors.append(FieldError(("customerNumber",), "Customer number does not match the resource url.",
                                 "E00140", body["customerNumber"]))
    if errors:
        raise validation_failed(errors)
    return clean


def _too_long(max_length: int) -> str:
    return f"Value is too long; at most {max_length} characters allowed."


def _nulls(value: Any, path: tuple[str | int, ...]) -> Iterable[FieldError]:
    # e-conomic rejects null: to clear a field, leave it out.
    if isinstance(value, dict):
        for key, inner in value.items():
            if inner is None:
                yield FieldError((*path, key), "Value cannot be null. Leave the property out to clear it.",
                                 "E00110", None)
            else:
                yield from _nulls(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _nulls(inner, (*path, index))


def _unknown_references(clean: Mapping[str, Any]) -> Iterable[FieldError]:
    checks = (
        ("customerGroup", "customerGroupNumber", CUSTOMER_GROUPS, "CustomerGroup", "E07140",
         "customer-groups"),
        ("paymentTerms", "paymentTermsNumber", PAYMENT_TERMS, "PaymentTerms", "E07150", "payment-terms"),
        ("vatZone", "vatZoneNumber", VAT_ZONES, "VatZone", "E07160", "vat-zones"),
        ("layout", "layoutNumber", LAYOUTS, "Layout", "E07170", "layouts"),
    )
    for ref, key, known, label, code, collection in checks:
        number = clean.get(ref, {}).get(key)
        if number is not None and number not in known:
            yield FieldError((ref,), f"{label} '{number}' not found.", code, number,
                             f"Find a list of {collection.replace('-', ' ')} at "
                             f"https://restapi.e-conomic.com/{collection} .")
    currency = clean.get("currency")
    if currency is not None and currency not in CURRENCIES:
        yield FieldError(("currency",), f"Currency '{currency}' not found.", "E07180", currency)


def render_customer(customer: Mapping[str, Any], base: str) -> dict[str, Any]:
    number = customer["customerNumber"]
    me = f"{base}/customers/{number}"
    doc: dict[str, Any] = {"balance": 0.0, "dueAmount": 0.0}
    for key, value in customer.items():
        if key in CUSTOMER_REFS:
            inner, collection = CUSTOMER_REFS[key]
            doc[key] = {**value, "self": f"{base}/{collection}/{value[inner]}"}
        else:
            doc[key] = value
    doc.update(
        contacts=f"{me}/contacts",
        templates={"invoice": f"{me}/templates/invoice", "invoiceLine": f"{me}/templates/invoiceline",
                   "self": f"{me}/templates"},
        totals={"drafts": f"{base}/invoices/totals/drafts/customers/{number}",
                "booked": f"{base}/invoices/totals/booked/customers/{number}", "self": f"{me}/totals"},
        deliveryLocations=f"{me}/delivery-locations",
        invoices={"drafts": f"{me}/invoices/drafts", "booked": f"{me}/invoices/booked",
                  "self": f"{me}/invoices"},
        metaData={"delete": {"description": "Delete this customer.", "href": me, "httpMethod": "delete"},
                  "replace": {"description": "Replace this customer.", "href": me, "httpMethod": "put"}},
        self=me,
    )
    return doc


# ------------------------------------------------------------------------------------------- draft orders

def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def _text(body: Mapping[str, Any], path: tuple[str | int, ...], name: str, max_length: int,
          errors: list[FieldError], required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required and name not in body:
            errors.append(FieldError((*path, name), "Property is required.", "E00100", None))
        return None
    if not isinstance(value, str):
        errors.append(FieldError((*path, name), "Value must be a string.", "E00120", value))
        return None
    if len(value) > max_length:
        errors.append(FieldError((*path, name), _too_long(max_length), "E00130", value))
    if required and not value.strip():
        errors.append(FieldError((*path, name), "Property is required.", "E00100", value))
    return value


def _reference(body: Mapping[str, Any], name: str, key: str, errors: list[FieldError],
               known: Mapping[int, Any], label: str, code: str) -> int | None:
    value = body.get(name)
    if value is None:
        if name not in body:
            errors.append(FieldError((name,), "Property is required.", "E00100", None))
        return None
    if not isinstance(value, dict) or key not in value:
        errors.append(FieldError((name, key), "Property is required.", "E00100", None))
        return None
    number = value[key]
    if not isinstance(number, int) or isinstance(number, bool):
        if number is not None:
            errors.append(FieldError((name, key), "Value must be an integer.", "E00120", number))
        return None
    if number not in known:
        errors.append(FieldError((name,), f"{label} '{number}' not found.", code, number))
        return None
    return number


def validate_draft(body: Any, state: EconomicState) -> list[FieldError]:
    if not isinstance(body, dict):
        raise EconomicError(400, "The request body must be a JSON object.", "E00010", "Send a draft order.")
    errors = [e for e in _nulls(body, ()) if e.path != ("recipient", "nemHandelType")]
    order_date = _text(body, (), "date", 10, errors, required=True)
    if order_date is not None:
        try:
            date.fromisoformat(order_date)
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", order_date):
                raise ValueError(order_date)
        except ValueError:
            errors.append(FieldError(("date",), "Date must be formatted YYYY-MM-DD.", "E00140", order_date))
    currency = _text(body, (), "currency", 3, errors, required=True)
    if currency is not None and currency.strip() and currency.upper() not in CURRENCIES:
        errors.append(FieldError(("currency",), f"Currency '{currency}' not found.", "E07180", currency))
    _reference(body, "customer", "customerNumber", errors, state.customers, "Customer", "E07190")
    _reference(body, "layout", "layoutNumber", errors, LAYOUTS, "Layout", "E07170")
    _reference(body, "paymentTerms", "paymentTermsNumber", errors, PAYMENT_TERMS, "PaymentTerms", "E07150")
    recipient = body.get("recipient")
    if recipient is None:
        if "recipient" not in body:
            errors.append(FieldError(("recipient",), "Property is required.", "E00100", None))
    elif not isinstance(recipient, dict):
        errors.append(FieldError(("recipient",), "Value must be an object.", "E00120", recipient))
    else:
        _text(recipient, ("recipient",), "name", 250, errors, required=True)
        for name, limit in (("address", 250), ("zip", 50), ("city", 250), ("country", 50), ("ean", 13),
                            ("publicEntryNumber", 40)):
            _text(recipient, ("recipient",), name, limit, errors)
        zone_errors: list[FieldError] = []
        _reference(recipient, "vatZone", "vatZoneNumber", zone_errors, VAT_ZONES, "VatZone", "E07160")
        errors.extend(FieldError(("recipient", *e.path), e.message, e.code, e.input_value)
                      for e in zone_errors)
    for group, limits in (("notes", {"heading": 250, "textLine1": 1000, "textLine2": 1000}),
                          ("references", {"other": 250})):
        part = body.get(group)
        if isinstance(part, dict):
            for name, limit in limits.items():
                _text(part, (group,), name, limit, errors)
    lines = body.get("lines", [])
    if lines is not None and not isinstance(lines, list):
        errors.append(FieldError(("lines",), "Value must be an array.", "E00120", lines))
    elif lines:
        for index, line in enumerate(lines):
            errors.extend(_line_errors(index, line))
    return errors


def _line_errors(index: int, line: Any) -> list[FieldError]:
    path: tuple[str | int, ...] = ("lines", index)
    if not isinstance(line, dict):
        return [FieldError(path, "Value must be an object.", "E00120", line)]
    errors: list[FieldError] = []
    _text(line, path, "description", 2500, errors)
    for name in ("lineNumber", "sortKey"):
        value = line.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            errors.append(FieldError((*path, name), "Value must be a positive integer.", "E00120", value))
    product = line.get("product")
    if product is not None:
        number = product.get("productNumber") if isinstance(product, dict) else None
        if number is None or (isinstance(number, str) and not number.strip()):
            errors.append(FieldError((*path, "product"), "Product number is required when a product is set.",
                                     "E04500", product))
        elif not isinstance(number, str):
            errors.append(FieldError((*path, "product", "productNumber"), "Value must be a string.", "E00120",
                                     number))
        elif number not in PRODUCTS:
            errors.append(FieldError((*path, "product"), f"Product '{number}' not found.", "E07200", number))
        if line.get("quantity") is None:
            errors.append(FieldError((*path, "quantity"), "Quantity is required when a product is set.",
                                     "E04730", None))
        if not line.get("description"):
            errors.append(FieldError((*path, "description"),
                                     "Description is required when a product is set.", "E00100", None))
    for name, code in (("quantity", "E00150"), ("unitNetPrice", "E04740"), ("discountPercentage", "E00150")):
        value = line.get(name)
        if value is None:
            continue
        if not _is_number(value):
            errors.append(FieldError((*path, name), "Value must be a number.", "E00120", value))
        elif _decimals(Decimal(str(value))) > 2:
            message = ("Unit net price may have at most 2 decimals." if name == "unitNetPrice"
                       else "At most 2 decimals are allowed.")
            errors.append(FieldError((*path, name), message, code, value))
    unit = line.get("unit")
    if unit is not None:
        unit_number = unit.get("unitNumber") if isinstance(unit, dict) else None
        if unit_number not in UNITS:
            errors.append(FieldError((*path, "unit"), f"Unit '{unit_number}' not found.", "E07210",
                                     unit_number))
    return errors


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def build_draft(body: Mapping[str, Any], number: int, base: str) -> dict[str, Any]:
    """The stored (and answered) draft: the shape of samples/order_draft_document.json."""
    me = f"{base}/orders/drafts/{number}"
    terms_number = body["paymentTerms"]["paymentTermsNumber"]
    terms_name, days, terms_type = PAYMENT_TERMS[terms_number]
    zone = body["recipient"]["vatZone"]["vatZoneNumber"]
    vat_rate = VAT_ZONES[zone][1]
    lines: list[dict[str, Any]] = []
    net = Decimal(0)
    for index, line in enumerate(body.get("lines") or []):
        product_number = (line.get("product") or {}).get("productNumber")
        product = PRODUCTS.get(product_number) if product_number else None
        quantity = Decimal(str(line.get("quantity", 1)))
        price = Decimal(str(line.get("unitNetPrice", product[1] if product else 0)))
        discount = Decimal(str(line.get("discountPercentage", 0)))
        total = (quantity * price * (1 - discount / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        net += total
        line_number = line.get("lineNumber", index + 1)
        rendered: dict[str, Any] = {"lineNumber": line_number, "sortKey": line.get("sortKey", line_number),
                                    "description": line.get("description", product[0] if product else "")}
        unit_number = (line.get("unit") or {}).get("unitNumber") or (product[2] if product else None)
        if unit_number is not None:
            rendered["unit"] = {"unitNumber": unit_number, "name": UNITS[unit_number],
                                "products": f"{base}/units/{unit_number}/products",
                                "self": f"{base}/units/{unit_number}"}
        if product_number:
            rendered["product"] = {"productNumber": product_number,
                                   "self": f"{base}/products/{product_number}"}
        rendered.update(quantity=_money(quantity), unitNetPrice=_money(price),
                        discountPercentage=_money(discount), unitCostPrice=0.0, totalNetAmount=_money(total),
                        marginInBaseCurrency=_money(total), marginPercentage=100.0 if total else 0.0)
        lines.append(rendered)
    vat = (net * vat_rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    order_date = date.fromisoformat(body["date"])
    due = order_date + timedelta(days=days)
    if terms_type == "invoiceMonth":
        month_end = (order_date.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        due = month_end + timedelta(days=days)
    recipient = dict(body["recipient"])
    recipient["vatZone"] = {"vatZoneNumber": zone, "self": f"{base}/vat-zones/{zone}"}
    customer_number = body["customer"]["customerNumber"]
    layout_number = body["layout"]["layoutNumber"]
    draft: dict[str, Any] = {
        "orderNumber": number,
        "templates": {"upgradeInstructions": f"{me}/templates/upgrade-instructions/draftInvoice",
                      "self": f"{me}/templates"},
        "soap": {"orderHandle": {"id": number}},
        "attachment": f"{me}/attachment",
        "lines": lines,
        "date": body["date"],
        "currency": body["currency"].upper(),
        "exchangeRate": 100.0,
        "netAmount": _money(net), "netAmountInBaseCurrency": _money(net),
        "grossAmount": _money(net + vat), "grossAmountInBaseCurrency": _money(net + vat),
        "marginInBaseCurrency": _money(net), "marginPercentage": 100.0 if net else 0.0,
        "vatAmount": _money(vat), "roundingAmount": 0.0, "costPriceInBaseCurrency": 0.0,
        "dueDate": due.isoformat(),
        "paymentTerms": {"paymentTermsNumber": terms_number, "daysOfCredit": days, "name": terms_name,
                         "paymentTermsType": terms_type, "self": f"{base}/payment-terms/{terms_number}"},
        "customer": {"customerNumber": customer_number, "self": f"{base}/customers/{customer_number}"},
        "recipient": _plain_tree(recipient),
        "layout": {"layoutNumber": layout_number, "self": f"{base}/layouts/{layout_number}"},
        "pdf": {"download": f"{me}/pdf"},
        "self": me,
    }
    for optional in ("notes", "references"):
        if body.get(optional):
            draft[optional] = _plain_tree(body[optional])
    return draft


def _plain_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_tree(v) for v in value]
    return _plain(value)


# ------------------------------------------------------------------------------------------------ HTTP side

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
        state.idempotency[key] = _CachedAnswer(response.status_code, bytes(response.body), kept,
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
        return JSONResponse(_agreement(_base(request)))

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

    def docs(base: str) -> dict[str, dict[int | str, dict[str, Any]]]:
        return {
            "customer-groups": {n: {"customerGroupNumber": n, "name": name}
                                for n, name in CUSTOMER_GROUPS.items()},
            "payment-terms": {n: {"paymentTermsNumber": n, "name": t[0], "daysOfCredit": t[1],
                                  "paymentTermsType": t[2]} for n, t in PAYMENT_TERMS.items()},
            "vat-zones": {n: {"vatZoneNumber": n, "name": z[0], "enabledForCustomer": True}
                          for n, z in VAT_ZONES.items()},
            "layouts": {n: {"layoutNumber": n, "name": name, "deleted": False}
                        for n, name in LAYOUTS.items()},
            "units": {n: {"unitNumber": n, "name": name} for n, name in UNITS.items()},
            "products": {n: {"productNumber": n, "name": p[0], "salesPrice": float(p[1]),
                             "unit": {"unitNumber": p[2], "self": f"{base}/units/{p[2]}"}, "barred": False}
                         for n, p in PRODUCTS.items()},
        }

    def with_self(doc: dict[str, Any], base: str, collection: str, key: int | str) -> dict[str, Any]:
        return {**doc, "self": f"{base}/{collection}/{key}"}

    def listing(collection: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            base = _base(request)
            items = docs(base)[collection]
            keys = list(items)
            ordered = list(range(len(keys)))
            return _page(request, f"/{collection}", ordered, len(keys),
                         lambda i: json_bytes(with_self(items[keys[i]], base, collection, keys[i])), {})
        return endpoint

    def single(collection: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            base = _base(request)
            items = docs(base)[collection]
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


def _agreement(base: str) -> dict[str, Any]:
    return {
        "agreementNumber": AGREEMENT_NUMBER,
        "agreementType": {"agreementTypeNumber": 2, "name": "Professionel"},
        "userName": "Sandbox Support",
        "signupDate": "2019-04-01",
        "user": {"loginId": "SANDBOX", "email": "support@sandbox.hubtui.dk", "name": "Sandbox Support",
                 "agreementNumber": AGREEMENT_NUMBER,
                 "language": {"languageNumber": 1, "name": "Danish", "culture": "da-DK",
                              "self": f"{base}/languages/1"}},
        "company": {"addressLine1": "Sandkassevej 1", "zip": "8000", "city": "Aarhus C",
                    "name": "Sandkassen IT-Service ApS", "country": "Danmark", "phoneNumber": "70 20 30 40",
                    "companyIdentificationNumber": "12345678", "vatNumber": "DK12345678",
                    "email": "bogholderi@sandkassen.dk", "website": "www.sandkassen.dk"},
        "application": {"appNumber": 1, "name": "hubtui sandbox", "appPublicToken": "sandbox",
                        "created": "2026-01-01", "requiredRoles": [{"roleNumber": 1, "name": "SuperUser"}],
                        "self": f"{base}/apps/1"},
        "settings": {"baseCurrency": "DKK", "defaultPaymentTerm": "Netto 8 dage",
                     "internationalLedger": "false"},
        "canSendElectronicInvoice": True,
        "modules": [{"moduleNumber": 1, "name": "Ordre", "self": f"{base}/modules/1"}],
        "self": f"{base}/self",
    }
