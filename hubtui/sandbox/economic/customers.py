"""Customers: the writable fields, how a PUT/POST body is checked and stored, and how a stored customer
is answered (with its links).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hubtui.sandbox.economic.agreement import CURRENCIES, CUSTOMER_GROUPS, LAYOUTS, PAYMENT_TERMS, VAT_ZONES
from hubtui.sandbox.economic.errors import (
    EconomicError,
    FieldError,
    is_number,
    nulls,
    plain,
    too_long,
    validation_failed,
)

if TYPE_CHECKING:
    from hubtui.sandbox.economic.state import EconomicState

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
# What `filter=` and `sort=` may name on customers, and its type.
CUSTOMER_FILTER_TYPES: dict[str, str] = {
    **dict.fromkeys(CUSTOMER_TEXT, "str"), **dict.fromkeys(CUSTOMER_FLAGS, "bool"),
    **{f"{ref}.{key}": "int" for ref, (key, _) in CUSTOMER_REFS.items()},
    "customerNumber": "int", "creditLimit": "number", "balance": "number", "dueAmount": "number",
    "lastUpdated": "datetime",
}


def validate_customer(body: Any, state: EconomicState, number: int | None) -> dict[str, Any]:
    """The stored form of a PUT/POST body, or EconomicError with every problem found."""
    if not isinstance(body, dict):
        raise EconomicError(400, "The request body must be a JSON object.", "E00010", "Send a customer.")
    errors = list(nulls(body, ()))
    clean: dict[str, Any] = {}
    for name, max_length in CUSTOMER_TEXT.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append(FieldError((name,), "Value must be a string.", "E00120", value))
        elif len(value) > max_length:
            errors.append(FieldError((name,), too_long(max_length), "E00130", value))
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
        if is_number(credit_limit):
            clean["creditLimit"] = plain(credit_limit)
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
