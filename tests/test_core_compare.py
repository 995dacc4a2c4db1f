"""Comparing one customer across the three systems, and the suggested choice with its reason."""

from __future__ import annotations

import pytest

from hubtui.config import Settings
from hubtui.core.compare import (
    NOT_IN_SYSTEM,
    REASON_TEXTS,
    compare_customer,
    explain,
    hub_view_of_economic,
    hub_view_of_vtiger,
)
from hubtui.core.fields import FieldMapping, field_map

MAPPINGS = field_map(Settings(_env_file=None, vtiger_cvr_field="cf_856", vtiger_mobile_field=""))  # type: ignore[call-arg]
DOWN = object()  # the system could not be read


def _record(field: str, value: object) -> dict[str, object] | None:
    return None if value is DOWN else {field: value}


# (field, hub, vTiger, e-conomic, FIELD_TRUST rules, differs, suggested, reason)
SUGGESTIONS = [
    pytest.param("city", "Aarhus", "aarhus", "AARHUS", {}, False, None, "3 of 3 agree", id="all-equal"),
    pytest.param("city", None, "", None, {}, False, None, "empty in all 3", id="all-empty"),
    pytest.param("city", "Aarhus", "Århus", "Århus", {}, True, "vtiger", "2 of 3 agree", id="majority"),
    pytest.param(
        "city", "Aarhus", "Aarhus", "Århus", {}, True, "hub", "2 of 3 agree", id="majority-first-agreeing",
    ),
    pytest.param(
        "phone", "+45 12 34 56 78", "87654321", "12345678", {}, True, "hub", "2 of 3 agree",
        id="majority-by-normalized-value",
    ),
    pytest.param(
        "city", "Aarhus", "", None, {}, True, "hub", "only hub has a value", id="value-beats-empties",
    ),
    pytest.param("city", "Aarhus", "Aarhus", "", {}, True, "hub", "2 of 3 agree", id="majority-over-empty"),
    pytest.param("city", "Aarhus", "Århus", "Odense", {}, True, None, "no majority", id="three-way-tie"),
    pytest.param("city", "Aarhus", "Århus", "", {}, True, None, "no majority", id="tie-with-an-empty"),
    pytest.param(
        "cvr_number", "11111111", "DK-11111111", "22222222", {"cvr_number": "economic"}, True, "economic",
        "e-conomic is trusted for CVR", id="trust-beats-majority",
    ),
    pytest.param(
        "name", "Jensen ApS", "Jensen A/S", "Jensen A/S", {"name": "hub"}, True, "hub",
        "hub is trusted for Name", id="trust-hub",
    ),
    pytest.param(
        "cvr_number", "12345678", "DK-12345678", "DK 12345678", {"cvr_number": "economic"}, False, None,
        "3 of 3 agree", id="trust-irrelevant-when-equal",
    ),
    pytest.param(
        "city", "Aarhus", "", DOWN, {"city": "economic"}, True, "hub",
        "e-conomic is trusted for City but is unavailable; only hub has a value",
        id="trusted-unavailable-falls-back-to-majority",
    ),
    pytest.param(
        "cvr_number", "11111111", "22222222", DOWN, {"cvr_number": "economic"}, True, None,
        "e-conomic is trusted for CVR but is unavailable; no majority", id="trusted-unavailable-tie",
    ),
    pytest.param(
        "city", "Aarhus", "Aarhus", "", {"city": "economic"}, True, "hub",
        "e-conomic is trusted for City but has no value; 2 of 3 agree", id="trusted-but-empty-never-erases",
    ),
    pytest.param(
        "email", "a@x.dk", "b@x.dk", None, {"email": "economic"}, True, None, "no majority",
        id="trust-in-system-without-field-ignored",
    ),
    pytest.param("city", "Aarhus", DOWN, "Århus", {}, True, None, "no majority", id="one-down-two-differ"),
    pytest.param("city", "Aarhus", DOWN, "aarhus", {}, False, None, "2 of 2 agree", id="one-down-two-agree"),
    pytest.param(
        "city", "Aarhus", DOWN, DOWN, {}, False, None, "nothing to compare hub with", id="two-down",
    ),
    pytest.param(
        "email", "Info@x.dk", "info@x.dk", "other@x.dk", {}, False, None, "2 of 2 agree",
        id="not-in-economic-never-differs",
    ),
    pytest.param(
        "mobile_phone", "20304050", "99999999", "+45 20 30 40 50", {}, False, None, "2 of 2 agree",
        id="not-in-vtiger-never-differs",
    ),
    pytest.param(
        "email", "a@x.dk", DOWN, None, {}, False, None, "nothing to compare hub with",
        id="not-in-one-other-down",
    ),
    pytest.param(
        "city", DOWN, DOWN, DOWN, {}, False, None, "no system with this field could be read", id="all-down",
    ),
]


@pytest.mark.parametrize(
    ("field", "hub", "vtiger", "economic", "trust", "differs", "suggested", "reason"), SUGGESTIONS
)
def test_suggestion(
    field: str,
    hub: object,
    vtiger: object,
    economic: object,
    trust: dict[str, str],
    differs: bool,
    suggested: str | None,
    reason: str,
) -> None:
    comparison = compare_customer(
        _record(field, hub), _record(field, vtiger), _record(field, economic), MAPPINGS, trust
    )
    compared = comparison.field(field)
    assert (compared.differs, compared.suggested, compared.reason) == (differs, suggested, reason)
    assert comparison.discrepancy_count == int(differs)


def test_values_show_raw_text_empty_not_in_system_and_unavailable() -> None:
    comparison = compare_customer(
        {"email": "  ", "city": " Aarhus ", "phone": 12345678},
        None,
        {"city": "Århus"},
        MAPPINGS,
    )
    assert comparison.available == {"hub": True, "vtiger": False, "economic": True}
    email = comparison.field("email")
    # Blank is empty; e-conomic has no general e-mail; vTiger was not read, so it has no key at all.
    assert email.values == {"hub": None, "economic": NOT_IN_SYSTEM}
    assert email.compared == ("hub",)
    assert not email.has_field("economic") and email.has_field("vtiger")
    assert comparison.field("city").values == {"hub": " Aarhus ", "economic": "Århus"}
    assert comparison.field("phone").value("hub") == "12345678"
    assert comparison.field("mobile_phone").values["vtiger"] is NOT_IN_SYSTEM
    assert not NOT_IN_SYSTEM  # falsy, so `value or "—"` works for display


def test_discrepancies_first_and_as_dict() -> None:
    comparison = compare_customer(
        {"name": "Jensen ApS", "city": "Aarhus", "phone": "12345678"},
        {"name": "Jensen ApS", "city": "Århus", "phone": "87654321"},
        {"name": "Jensen ApS", "city": "Århus", "phone": "12345678"},
        MAPPINGS,
    )
    assert [c.field for c in comparison.discrepancies] == ["city", "phone"]
    assert comparison.discrepancy_count == 2
    assert [c.field for c in comparison.discrepancies_first()][:3] == ["city", "phone", "name"]
    assert len(comparison.fields) == len(MAPPINGS)
    assert comparison.discrepancies_as_dict()["city"] == {
        "hub": "Aarhus", "vtiger": "Århus", "economic": "Århus",
        "suggested": "vtiger", "reason": "2 of 3 agree",
    }


def test_hub_views_map_remote_names_to_hub_fields() -> None:
    mappings = (
        FieldMapping("name", "accountname", "name"),
        FieldMapping("cvr_number", "cf_856", "corporateIdentificationNumber"),
        FieldMapping("email", "email1", None),
        FieldMapping("mobile_phone", None, "mobilePhone"),
    )
    account = {"id": "3x1", "accountname": "Jensen ApS", "cf_856": "12345678", "email1": "", "mobile": "x"}
    assert hub_view_of_vtiger(account, mappings) == {
        "name": "Jensen ApS", "cvr_number": "12345678", "email": "",
    }
    # e-conomic leaves empty fields out of its answers: absent means empty.
    customer = {"customerNumber": 7, "name": "Jensen ApS"}
    assert hub_view_of_economic(customer, mappings) == {
        "name": "Jensen ApS", "cvr_number": None, "mobile_phone": None,
    }


def test_reasons_can_be_rendered_in_another_language() -> None:
    comparison = compare_customer(
        {"cvr_number": "1"}, {"cvr_number": "1"}, {"cvr_number": "2"}, MAPPINGS, {"cvr_number": "economic"}
    )
    danish = {**REASON_TEXTS, "trusted": "{system} har forrang for {field}"}
    reasons = comparison.field("cvr_number").reasons
    assert explain(reasons, danish, label={"cvr_number": "CVR Nummer"}.__getitem__) == (
        "e-conomic har forrang for CVR Nummer"
    )
