"""The body of `POST /orders/drafts` for one hubtui order, and the Idempotency-Key that makes its export
happen once.

Only what e-conomic requires (shared/api/economic.md, orders.drafts.post.schema.json) plus hubtui's order
number in `references.other`, which is how a draft whose answer was lost is found again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from hubtui.core.billing import OrderLineDraft, truncate_for_economic

# e-conomic's limits from orders.drafts.post.schema.json.
RECIPIENT_NAME_MAX = 250
REFERENCE_OTHER_MAX = 250
PRODUCT_NUMBER_MAX = 25
# Up to 15 significant digits every decimal survives the trip to a double and back through repr/JSON.
_FLOAT_SAFE_DIGITS = 15
IDEMPOTENCY_KEY_PREFIX = "hubtui-"


class DraftOrderSettings(Protocol):
    """The settings a draft order needs (`hubtui.config.Settings` has them)."""

    timetracking_currency: str
    timetracking_economic_product_number: str
    timetracking_economic_unit_number: int
    timetracking_economic_layout_number: int
    timetracking_economic_payment_terms_number: int


class NotExportable(ValueError):
    """The order cannot become a valid draft; `message` says what to fix, for the support person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def draft_order_payload(
    order_number: str,
    order_date: date,
    economic_customer: Mapping[str, Any],
    lines: Sequence[OrderLineDraft],
    settings: DraftOrderSettings,
) -> dict[str, Any]:
    """The JSON body for `POST /orders/drafts`: plain dicts, lists, str, int and float, ready for json.dumps.

    `economic_customer` is the customer as `GET /customers/{n}` returns it. Its layout and payment terms
    win over the settings because they are what the customer's invoices already use; the recipient's
    name and VAT zone come from it too, as e-conomic requires them and a guessed VAT zone would bill the
    wrong VAT.
    """
    if not lines:
        raise NotExportable(f"Order {order_number} has no lines; approve time entries before exporting")
    if len(order_number) > REFERENCE_OTHER_MAX:
        raise NotExportable(f"Order number {order_number[:20]}… is longer than e-conomic's {REFERENCE_OTHER_MAX}")
    return {
        "date": order_date.isoformat(),
        "currency": settings.timetracking_currency.upper(),
        "customer": {"customerNumber": _customer_number(economic_customer)},
        "layout": {"layoutNumber": _customer_reference(
            economic_customer, "layout", "layoutNumber", settings.timetracking_economic_layout_number)},
        "paymentTerms": {"paymentTermsNumber": _customer_reference(
            economic_customer, "paymentTerms", "paymentTermsNumber",
            settings.timetracking_economic_payment_terms_number)},
        "recipient": _recipient(economic_customer),
        "references": {"other": order_number},
        "lines": [_line(line, settings) for line in lines],
    }


def _customer_number(customer: Mapping[str, Any]) -> int:
    number = customer.get("customerNumber")
    if not isinstance(number, int) or isinstance(number, bool) or number == 0:
        raise NotExportable(
            "The customer has no e-conomic customer number: sync customers from vTiger; the number comes from cf_854")
    return number


def _customer_reference(customer: Mapping[str, Any], name: str, key: str, setting: int) -> int:
    # Absent means empty in e-conomic answers, so a customer without its own layout gets the setting's.
    reference = customer.get(name)
    number = reference.get(key) if isinstance(reference, Mapping) else None
    if isinstance(number, int) and not isinstance(number, bool) and number >= 1:
        return number
    return setting


def _recipient(customer: Mapping[str, Any]) -> dict[str, Any]:
    name = customer.get("name")
    if not isinstance(name, str) or not name.strip():
        raise NotExportable(f"e-conomic customer {customer.get('customerNumber')} has no name; add it in e-conomic")
    zone = customer.get("vatZone")
    zone_number = zone.get("vatZoneNumber") if isinstance(zone, Mapping) else None
    if not isinstance(zone_number, int) or isinstance(zone_number, bool):
        raise NotExportable(
            f"e-conomic customer {customer.get('customerNumber')} has no VAT zone; set it in e-conomic")
    # A customer name may have 255 characters, a recipient name only 250.
    return {"name": truncate_for_economic(name.strip(), RECIPIENT_NAME_MAX), "vatZone": {"vatZoneNumber": zone_number}}


def _line(line: OrderLineDraft, settings: DraftOrderSettings) -> dict[str, Any]:
    product_number = settings.timetracking_economic_product_number.strip()
    if not product_number or len(product_number) > PRODUCT_NUMBER_MAX:
        raise NotExportable(
            f"TIMETRACKING_ECONOMIC_PRODUCT_NUMBER must be an e-conomic product number of 1-{PRODUCT_NUMBER_MAX} "
            f"characters, got '{product_number[:30]}'")
    return {
        "lineNumber": line.line_number,
        "sortKey": line.line_number,
        "description": line.description,
        "product": {"productNumber": product_number},
        "unit": {"unitNumber": settings.timetracking_economic_unit_number},
        "quantity": json_number(line.quantity),
        "unitNetPrice": json_number(line.unit_price),
        "discountPercentage": 0,
    }


def json_number(value: Decimal) -> int | float:
    """A two-decimal `Decimal` as a JSON number: an int when whole, else a float.

    Converting to float happens only here, at the HTTP boundary, because the JSON encoder cannot write a
    Decimal. It loses nothing: a decimal of at most 15 significant digits is what `repr(float(...))`, and so
    json.dumps, writes back (850.5 stays 850.5, never 850.4999...). Larger values are refused instead of
    rounded, and so are values with more than two decimals (e-conomic answers E04740 to those).
    """
    if not value.is_finite():
        raise NotExportable(f"{value} is not an amount")
    _sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    if exponent < -2:
        raise NotExportable(f"{value} has more than 2 decimals; e-conomic accepts at most 2")
    if value == value.to_integral_value():
        return int(value)
    if len(digits) > _FLOAT_SAFE_DIGITS:
        raise NotExportable(f"{value} has too many digits to send to e-conomic exactly")
    return float(value)


def new_export_key() -> str:
    """A fresh `Idempotency-Key` for exporting one order: random, made when the order is made.

    A key derived from the order number would repeat across hub databases (each numbers from ORD-YYYY-001)
    and e-conomic would replay another database's draft; a random key is this order's alone. It is sent on
    every retry of the export, so a repeat within e-conomic's hour is answered with the first draft.
    """
    return IDEMPOTENCY_KEY_PREFIX + str(uuid.uuid4())
