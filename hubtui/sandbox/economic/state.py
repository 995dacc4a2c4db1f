"""One sandbox e-conomic agreement in memory: its customers and draft orders, the cached listings and
encoded customers that keep paging cheap, and the idempotency cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from hubtui.sandbox.economic.customers import CUSTOMER_FILTER_TYPES, render_customer
from hubtui.sandbox.economic.drafts import DRAFT_FILTER_TYPES
from hubtui.sandbox.economic.errors import EconomicError, error_body
from hubtui.sandbox.economic.filters import FilterParser, lookup, sort_key
from hubtui.sandbox.faults import EconomicFaults, SandboxState, json_bytes
from hubtui.sandbox.remote_data import RemoteData

ECONOMIC_APP_SECRET = "hubtui-sandbox-app-secret-token"
ECONOMIC_GRANT = "hubtui-sandbox-agreement-grant-token"


@dataclass
class CachedAnswer:
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
        self.idempotency: dict[str, CachedAnswer] = {}
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
            predicate = FilterParser(filter_text, types).parse()
            numbers = [n for n in numbers if predicate(rows[n])]
        for field_name in reversed([s for s in sort.split(",") if s.strip()]):
            descending = field_name.startswith("-")
            name = field_name.lstrip("-+").strip()
            if name not in types:
                raise EconomicError(400, f"Cannot sort by '{name}'.", "E00320", "Sort by a listed property.")
            numbers.sort(key=lambda n, f=name: sort_key(lookup(rows[n], f)), reverse=descending)
        if len(self._listing_cache) > 32:
            self._listing_cache.clear()
        self._listing_cache[key] = (self.version, numbers)
        return numbers
