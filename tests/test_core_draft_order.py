"""The POST /orders/drafts body against e-conomic's own draft-03 schema, its numbers, and the Idempotency-Key."""

from __future__ import annotations

import json
import random
from datetime import date
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from api_fixtures import fixture_json

from hubtui.config import Settings
from hubtui.core.billing import EntryForBilling, OrderLineDraft, build_order_lines
from hubtui.core.draft_order import (
    NotExportable,
    draft_order_payload,
    json_number,
    new_export_key,
)

SETTINGS = Settings(
    _env_file=None,  # type: ignore[call-arg]
    timetracking_currency="dkk",
    timetracking_economic_product_number="TIME-1",
    timetracking_economic_unit_number=2,
    timetracking_economic_layout_number=19,
    timetracking_economic_payment_terms_number=3,
)


@pytest.fixture(scope="module")
def post_schema() -> jsonschema.Draft3Validator:
    schema = fixture_json("economic/schemas/orders.drafts.post.schema.json")
    assert schema["$schema"] == "http://json-schema.org/draft-03/schema#"
    return jsonschema.Draft3Validator(schema, format_checker=jsonschema.Draft3Validator.FORMAT_CHECKER)


def _lines(count: int, rate: str = "850.00", seed: int = 1) -> list[OrderLineDraft]:
    generator = random.Random(seed)
    entries = [
        EntryForBilling(
            id=n,
            work_date=date(2026, 1, 1 + n % 28),
            description=generator.choice(["Printer setup", "Mail: ny bruger – Åse Ødegård", "🙂" * 1500, ""]),
            billable_hours=Decimal(generator.randint(1, 2400)) / 100,
            related_case=generator.choice([None, "CC123", ""]),
        )
        for n in range(1, count + 1)
    ]
    return build_order_lines(entries, Decimal(rate))


FULL_CUSTOMER = {
    "customerNumber": 8, "name": "Nordisk Byg ApS", "currency": "DKK",
    "vatZone": {"vatZoneNumber": 1, "self": "https://restapi.e-conomic.com/vat-zones/1"},
    "layout": {"layoutNumber": 16, "self": "https://restapi.e-conomic.com/layouts/16"},
    "paymentTerms": {"paymentTermsNumber": 5, "self": "https://restapi.e-conomic.com/payment-terms/5"},
    "customerGroup": {"customerGroupNumber": 1}, "address": "Havnegade 1", "city": "Aarhus",
}
# Absent means empty in e-conomic answers: no layout, no payment terms, nothing else.
BARE_CUSTOMER = {"customerNumber": 123456789, "name": "Åse's Café", "vatZone": {"vatZoneNumber": 2}}

ORDERS = [
    pytest.param("ORD-2026-001", FULL_CUSTOMER, _lines(1), (16, 5), id="one-line-customer-layout-and-terms"),
    pytest.param("ORD-2026-002", BARE_CUSTOMER, _lines(40, "999.99", 2), (19, 3), id="bare-customer-settings"),
    pytest.param("ORD-2026-1000", {**BARE_CUSTOMER, "layout": {"layoutNumber": 21}}, _lines(3, "0.01", 3),
                 (21, 3), id="layout-only"),
    pytest.param("ORD-2026-004", {**BARE_CUSTOMER, "paymentTerms": {"paymentTermsNumber": 7}, "layout": {}},
                 _lines(250, "1234.56", 4), (19, 7), id="terms-only-empty-layout"),
    pytest.param("ORD-2026-005", {**FULL_CUSTOMER, "name": "N" * 255}, _lines(2, "0", 5), (16, 5),
                 id="longest-customer-name-free-customer"),
]


def _decimal_tree(payload: dict[str, Any]) -> Any:
    """The payload as e-conomic reads it off the wire: every JSON number as an exact Decimal."""
    return json.loads(json.dumps(payload), parse_float=Decimal, parse_int=Decimal)


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(leaf for item in value.values() for leaf in _walk(item))]
    if isinstance(value, list):
        return [value, *(leaf for item in value for leaf in _walk(item))]
    return [value]


@pytest.mark.parametrize(("number", "customer", "lines", "layout_and_terms"), ORDERS)
def test_payload_is_valid_against_economics_post_schema(
    post_schema: jsonschema.Draft3Validator, number: str, customer: dict[str, Any],
    lines: list[OrderLineDraft], layout_and_terms: tuple[int, int],
) -> None:
    payload = draft_order_payload(number, date(2026, 2, 3), customer, lines, SETTINGS)
    assert [error.message for error in post_schema.iter_errors(payload)] == []

    assert payload["date"] == "2026-02-03"
    assert payload["currency"] == "DKK"
    assert payload["customer"] == {"customerNumber": customer["customerNumber"]}
    assert (payload["layout"]["layoutNumber"], payload["paymentTerms"]["paymentTermsNumber"]) == layout_and_terms
    assert payload["recipient"]["vatZone"] == {"vatZoneNumber": customer["vatZone"]["vatZoneNumber"]}
    assert payload["recipient"]["name"] == customer["name"][:249] + ("…" if len(customer["name"]) > 250 else "")
    assert payload["references"] == {"other": number}
    assert len(payload["lines"]) == len(lines)


@pytest.mark.parametrize(("number", "customer", "lines", "layout_and_terms"), ORDERS)
def test_payload_lines_are_the_order_lines_exactly(
    number: str, customer: dict[str, Any], lines: list[OrderLineDraft], layout_and_terms: tuple[int, int],
) -> None:
    payload = draft_order_payload(number, date(2026, 2, 3), customer, lines, SETTINGS)
    # Only JSON's own types: json.dumps needs no `default=` and no Decimal reaches the HTTP client.
    assert all(isinstance(leaf, dict | list | str | int | float) for leaf in _walk(payload))
    assert not any(isinstance(leaf, Decimal | bool) for leaf in _walk(payload))
    for line, sent in zip(lines, _decimal_tree(payload)["lines"], strict=True):
        assert sent["lineNumber"] == sent["sortKey"] == line.line_number
        assert sent["description"] == line.description
        assert sent["product"] == {"productNumber": "TIME-1"}  # a string, as e-conomic wants (E04500)
        assert sent["unit"] == {"unitNumber": 2}
        assert sent["quantity"] == line.quantity
        assert sent["unitNetPrice"] == line.unit_price
        assert sent["discountPercentage"] == 0
        # e-conomic refuses more than two decimals with E04740; the schema's maxDecimal is not draft-03,
        # so jsonschema cannot check it for us.
        assert _decimals(sent["unitNetPrice"]) <= 2
        assert _decimals(sent["quantity"]) <= 2


def test_payload_is_json_that_round_trips() -> None:
    payload = draft_order_payload("ORD-2026-001", date(2026, 1, 31), FULL_CUSTOMER, _lines(5), SETTINGS)
    assert json.loads(json.dumps(payload)) == payload
    assert set(payload) == {"date", "currency", "customer", "layout", "paymentTerms", "recipient", "references",
                            "lines"}


def test_payload_keeps_money_exact_on_the_wire() -> None:
    line = OrderLineDraft(1, "x", Decimal("0.33"), Decimal("1234567.89"), Decimal("407407.40"), 1)
    payload = draft_order_payload("ORD-2026-001", date(2026, 1, 31), FULL_CUSTOMER, [line], SETTINGS)
    assert '"unitNetPrice": 1234567.89' in json.dumps(payload)
    assert '"quantity": 0.33' in json.dumps(payload)


@pytest.mark.parametrize(
    ("customer", "message"),
    [
        ({"name": "X", "vatZone": {"vatZoneNumber": 1}}, "cf_854"),
        ({"customerNumber": None, "name": "X", "vatZone": {"vatZoneNumber": 1}}, "cf_854"),
        ({"customerNumber": "8", "name": "X", "vatZone": {"vatZoneNumber": 1}}, "cf_854"),
        ({"customerNumber": 8, "vatZone": {"vatZoneNumber": 1}}, "has no name"),
        ({"customerNumber": 8, "name": "  ", "vatZone": {"vatZoneNumber": 1}}, "has no name"),
        ({"customerNumber": 8, "name": "X"}, "has no VAT zone"),
        ({"customerNumber": 8, "name": "X", "vatZone": {}}, "has no VAT zone"),
    ],
)
def test_a_customer_missing_what_economic_requires_is_not_exportable(customer: dict[str, Any], message: str) -> None:
    with pytest.raises(NotExportable) as caught:
        draft_order_payload("ORD-2026-001", date(2026, 1, 1), customer, _lines(1), SETTINGS)
    assert message in caught.value.message


def test_an_order_without_lines_or_with_a_bad_product_setting_is_not_exportable() -> None:
    with pytest.raises(NotExportable, match="no lines"):
        draft_order_payload("ORD-2026-001", date(2026, 1, 1), FULL_CUSTOMER, [], SETTINGS)
    for product in ("", "P" * 26):
        settings = SETTINGS.model_copy(update={"timetracking_economic_product_number": product})
        with pytest.raises(NotExportable, match="TIMETRACKING_ECONOMIC_PRODUCT_NUMBER"):
            draft_order_payload("ORD-2026-001", date(2026, 1, 1), FULL_CUSTOMER, _lines(1), settings)
    with pytest.raises(NotExportable, match="longer than"):
        draft_order_payload("ORD-" + "9" * 250, date(2026, 1, 1), FULL_CUSTOMER, _lines(1), SETTINGS)


def test_a_price_with_more_than_two_decimals_is_refused_not_rounded() -> None:
    line = OrderLineDraft(1, "x", Decimal("1.00"), Decimal("850.005"), Decimal("850.01"), 1)
    with pytest.raises(NotExportable, match="at most 2"):
        draft_order_payload("ORD-2026-001", date(2026, 1, 1), FULL_CUSTOMER, [line], SETTINGS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("850.00", 850), ("850", 850), ("0", 0), ("0.00", 0), ("1E+2", 100), ("850.50", 850.5), ("0.01", 0.01),
     ("-12.34", -12.34), ("9999999999999.99", 9999999999999.99)],
)
def test_json_number(value: str, expected: int | float) -> None:
    number = json_number(Decimal(value))
    assert number == expected and type(number) is type(expected)


@pytest.mark.parametrize("value", ["0.001", "1.005", "NaN", "Infinity", "99999999999999.99"])
def test_json_number_refuses_what_would_not_arrive_exactly(value: str) -> None:
    with pytest.raises(NotExportable):
        json_number(Decimal(value))


def test_json_number_loses_no_cent() -> None:
    generator = random.Random(7)
    every_cent_to_200 = range(0, 20_001)
    # Every size from 1 to the 15 digits json_number accepts, equally often.
    any_size = (generator.randint(0, 10 ** generator.randint(1, 15) - 1) for _ in range(20_000))
    for cents in (*every_cent_to_200, *any_size, 10**15 - 1):
        amount = Decimal(cents) / 100
        sent = json.dumps(json_number(amount))
        assert Decimal(sent) == amount, sent
        assert _decimals(Decimal(sent)) <= 2


def test_export_keys_are_random_printable_and_fit_an_http_header() -> None:
    keys = {new_export_key() for _ in range(2000)}
    assert len(keys) == 2000  # two orders, or two hub databases numbering alike, never share a key
    assert all(key.startswith("hubtui-") and all("!" <= c <= "~" for c in key) for key in keys)
