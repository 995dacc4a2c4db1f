"""Draft orders: how a POST body is checked (E04730, E04740, E04500, unknown references) and the draft
the sandbox stores and answers, with its totals, VAT and due date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from hubtui.core.billing import decimal_places
from hubtui.sandbox.economic.agreement import CURRENCIES, LAYOUTS, PAYMENT_TERMS, PRODUCTS, UNITS, VAT_ZONES
from hubtui.sandbox.economic.errors import EconomicError, FieldError, is_number, nulls, plain, too_long

if TYPE_CHECKING:
    from hubtui.sandbox.economic.state import EconomicState

# What `filter=` and `sort=` may name on draft orders, and its type.
DRAFT_FILTER_TYPES: dict[str, str] = {
    "orderNumber": "int", "date": "str", "dueDate": "str", "currency": "str", "netAmount": "number",
    "grossAmount": "number", "vatAmount": "number", "customer.customerNumber": "int",
    "recipient.name": "str", "references.other": "str", "notes.heading": "str",
    "layout.layoutNumber": "int", "paymentTerms.paymentTermsNumber": "int",
}


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
        errors.append(FieldError((*path, name), too_long(max_length), "E00130", value))
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
    errors = [e for e in nulls(body, ()) if e.path != ("recipient", "nemHandelType")]
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
        if not is_number(value):
            errors.append(FieldError((*path, name), "Value must be a number.", "E00120", value))
        elif decimal_places(Decimal(str(value))) > 2:
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
    return plain(value)
