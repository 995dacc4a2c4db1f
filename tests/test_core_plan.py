"""Write plans (which system gets which fields), undo plans, and validation of typed values."""

from __future__ import annotations

from typing import Any

import pytest

from hubtui.config import Settings
from hubtui.core.compare import CustomerComparison, compare_customer
from hubtui.core.fields import SYSTEMS, field_map
from hubtui.core.plan import FieldChoice, WritePlan, build_plan, undo_plan
from hubtui.core.validate import InvalidValue, validate

MAPPINGS = field_map(Settings(_env_file=None, vtiger_cvr_field="cf_856", vtiger_mobile_field=""))  # type: ignore[call-arg]
DOWN = object()  # the system could not be read
NONE: dict[str, Any] = {}


def _compare(field: str, hub: object, vtiger: object, economic: object) -> CustomerComparison:
    records = [None if value is DOWN else {field: value} for value in (hub, vtiger, economic)]
    return compare_customer(*records, MAPPINGS)


# (field, hub, vTiger, e-conomic, choice, expected writes per system by ITS field names, expected skips)
PLANS = [
    pytest.param(
        "city", "Aarhus", "Århus", "Århus", FieldChoice.pick("city", "vtiger"),
        {"hub": {"city": "Århus"}}, NONE, id="only-the-differing-system-is-written",
    ),
    pytest.param(
        "phone", "+45 12 34 56 78", "12345678", "87654321", FieldChoice.pick("phone", "hub"),
        {"economic": {"telephoneAndFaxNumber": "+45 12 34 56 78"}}, NONE,
        id="same-after-normalisation-is-not-written",
    ),
    pytest.param(
        "cvr_number", "11111111", "11111111", "22222222", FieldChoice.pick("cvr_number", "economic"),
        {"hub": {"cvr_number": "22222222"}, "vtiger": {"cf_856": "22222222"}}, NONE,
        id="remote-field-names",
    ),
    pytest.param(
        "email", "a@x.dk", "b@x.dk", None, FieldChoice.pick("email", "hub"),
        {"vtiger": {"email1": "a@x.dk"}}, NONE, id="never-written-where-not-in-system",
    ),
    pytest.param(
        "invoice_email", "a@x.dk", "b@x.dk", "b@x.dk", FieldChoice.pick("invoice_email", "hub"),
        {"vtiger": {"email2": "a@x.dk"}, "economic": {"email": "a@x.dk"}}, NONE,
        id="invoice-email-is-economic-email",
    ),
    pytest.param(
        "mobile_phone", "20304050", "x", "11111111", FieldChoice.pick("mobile_phone", "hub"),
        {"economic": {"mobilePhone": "20304050"}}, NONE, id="mobile-not-in-stock-vtiger",
    ),
    pytest.param(
        "city", "Aarhus", DOWN, "Århus", FieldChoice.pick("city", "hub"),
        {"economic": {"city": "Aarhus"}}, {"vtiger": "vTiger is unavailable"},
        id="unavailable-system-skipped-with-reason",
    ),
    pytest.param(
        "website", "www.x.dk", None, "x.dk", FieldChoice.pick("website", "vtiger"),
        {"hub": {"website": None}, "economic": {"website": None}}, NONE, id="empty-choice-clears",
    ),
    pytest.param(
        "name", "Jensen ApS", "", "Jensen ApS", FieldChoice.pick("name", "vtiger"),
        NONE, {"hub": "Name cannot be empty", "economic": "Name cannot be empty"},
        id="required-field-never-cleared",
    ),
    pytest.param(
        "city", "Aarhus", "A" * 60, "Århus", FieldChoice.pick("city", "vtiger"),
        {"hub": {"city": "A" * 60}}, {"economic": "too long for e-conomic: 60 characters, at most 50"},
        id="too-long-for-economic",
    ),
    pytest.param(
        "cvr_number", "12345678", "DK-12345678", "87654321", FieldChoice.custom("cvr_number", "DK 1234 5678"),
        {"vtiger": {"cf_856": "12345678"}, "economic": {"corporateIdentificationNumber": "12345678"}}, NONE,
        id="custom-cleaned-and-written-literally",
    ),
    pytest.param(
        "name", "jensen aps", "Jensen ApS", "JENSEN APS", FieldChoice.custom("name", " Jensen  ApS "),
        {"hub": {"name": "Jensen ApS"}, "economic": {"name": "Jensen ApS"}}, NONE,
        id="custom-fixes-case-everywhere",
    ),
    pytest.param(
        "city", "Aarhus", "Århus", DOWN, FieldChoice.custom("city", "Aarhus C"),
        {"hub": {"city": "Aarhus C"}, "vtiger": {"bill_city": "Aarhus C"}},
        {"economic": "e-conomic is unavailable"}, id="custom-with-a-system-down",
    ),
    pytest.param(
        "city", "Aarhus", "Århus", "Odense", FieldChoice.keep("city"), NONE, NONE, id="keep-writes-nothing",
    ),
    pytest.param(
        "city", "Aarhus", "aarhus", "AARHUS", FieldChoice.pick("city", "hub"), NONE, NONE,
        id="no-discrepancy-no-write",
    ),
]


@pytest.mark.parametrize(("field", "hub", "vtiger", "economic", "choice", "writes", "skips"), PLANS)
def test_build_plan(
    field: str,
    hub: object,
    vtiger: object,
    economic: object,
    choice: FieldChoice,
    writes: dict[str, dict[str, str | None]],
    skips: dict[str, str],
) -> None:
    plan = build_plan(_compare(field, hub, vtiger, economic), [choice], MAPPINGS)
    assert {s: plan.for_system(s) for s in SYSTEMS if plan.for_system(s)} == writes
    assert {skip.system: skip.reason for skip in plan.skipped} == skips
    assert plan.is_empty is (not writes)
    assert plan.systems == tuple(s for s in SYSTEMS if s in writes)


def test_plan_before_values_and_audit() -> None:
    comparison = compare_customer(
        {"city": "Aarhus", "cvr_number": "11111111"},
        {"city": "Århus", "cvr_number": "11111111"},
        {"city": "Århus", "cvr_number": "22222222"},
        MAPPINGS,
        {"cvr_number": "economic"},
    )
    # The suggestions, keyed by field, as the diff screen holds them.
    choices = {
        c.field: FieldChoice.pick(c.field, c.suggested) for c in comparison.discrepancies if c.suggested
    }
    plan = build_plan(comparison, choices)
    assert plan.hub == {"city": "Århus", "cvr_number": "22222222"}
    assert plan.vtiger == {"cf_856": "22222222"}
    assert plan.economic == {}
    assert plan.before == {
        "hub": {"city": "Aarhus", "cvr_number": "11111111"}, "vtiger": {"cf_856": "11111111"}, "economic": {},
    }
    assert plan.audit_values("vtiger") == ({"cvr_number": "11111111"}, {"cvr_number": "22222222"})
    assert plan.only("vtiger").systems == ("vtiger",)
    assert plan.only("vtiger").vtiger == plan.vtiger


@pytest.mark.parametrize(
    ("choice", "error"),
    [
        pytest.param(FieldChoice.pick("city", "vtiger"), ValueError, id="from-unavailable-system"),
        pytest.param(FieldChoice.pick("email", "economic"), ValueError, id="from-system-without-field"),
        pytest.param(FieldChoice("shoe_size", "hub"), ValueError, id="unknown-field"),
        pytest.param(FieldChoice.custom("cvr_number", "1234"), InvalidValue, id="invalid-custom-value"),
    ],
)
def test_impossible_choices_raise(choice: FieldChoice, error: type[Exception]) -> None:
    comparison = compare_customer({"city": "Aarhus"}, None, {"city": "Århus"}, MAPPINGS)
    with pytest.raises(error):
        build_plan(comparison, [choice])


def _apply(records: dict[str, dict[str, object]], plan: WritePlan) -> dict[str, dict[str, object]]:
    """What the systems hold after every write of `plan` succeeded."""
    after = {system: dict(values) for system, values in records.items()}
    for change in plan.changes:
        after[change.system][change.field] = change.after
    return after


def _compare_records(records: dict[str, dict[str, object]], down: str = "") -> CustomerComparison:
    return compare_customer(
        *(None if system == down else records[system] for system in SYSTEMS), MAPPINGS
    )


ORIGINAL: dict[str, dict[str, object]] = {
    "hub": {"name": "Jensen ApS", "city": "Aarhus", "phone": "+45 12 34 56 78"},
    "vtiger": {"name": "Jensen ApS", "city": "Århus", "phone": "12345678"},
    "economic": {"name": "Jensen ApS", "city": "Aarhus C", "phone": "87654321"},
}
CHOICES = [FieldChoice.custom("city", "Aarhus"), FieldChoice.pick("phone", "hub")]


def _audit(plan: WritePlan) -> tuple[dict[str, dict[str, str | None]], dict[str, dict[str, str | None]]]:
    """What the audit log keeps of one apply: per system, before and after by hub field name."""
    pairs = {system: plan.audit_values(system) for system in plan.systems}
    return {s: pair[0] for s, pair in pairs.items()}, {s: pair[1] for s, pair in pairs.items()}


def test_undo_restores_each_systems_own_before_values() -> None:
    plan = build_plan(_compare_records(ORIGINAL), CHOICES)
    applied = _apply(ORIGINAL, plan)
    assert _compare_records(applied).field("city").differs is False
    before, after = _audit(plan)
    assert before == {"vtiger": {"city": "Århus"}, "economic": {"city": "Aarhus C", "phone": "87654321"}}

    undo = undo_plan(before, _compare_records(applied), MAPPINGS, after)
    assert undo.vtiger == {"bill_city": "Århus"}
    assert undo.economic == {"city": "Aarhus C", "telephoneAndFaxNumber": "87654321"}
    assert undo.before["economic"] == {"city": "Aarhus", "telephoneAndFaxNumber": "+45 12 34 56 78"}
    assert not undo.skipped
    assert _apply(applied, undo) == ORIGINAL


def test_undo_skips_what_changed_since_unavailable_and_unknown() -> None:
    plan = build_plan(_compare_records(ORIGINAL), CHOICES)
    applied = _apply(ORIGINAL, plan)
    applied["economic"]["city"] = "Risskov"  # someone edited e-conomic after our write
    before, after = _audit(plan)
    before["vtiger"]["email"] = "old@x.dk"
    before["economic"]["email"] = "old@x.dk"  # e-conomic has no general e-mail
    before["hub"] = {"shoe_size": "44"}

    undo = undo_plan(before, _compare_records(applied, down="vtiger"), MAPPINGS, after)
    assert undo.economic == {"telephoneAndFaxNumber": "87654321"}
    assert {(s.system, s.field): s.reason for s in undo.skipped} == {
        ("hub", "shoe_size"): "'shoe_size' is not a customer field",
        ("vtiger", "city"): "vTiger is unavailable",
        ("vtiger", "email"): "vTiger is unavailable",
        ("economic", "city"): "changed in e-conomic since then (now 'Risskov'); undo would overwrite it",
        ("economic", "email"): "not in e-conomic",
    }


def test_undo_of_values_already_back_is_empty() -> None:
    plan = build_plan(_compare_records(ORIGINAL), CHOICES)
    before, _ = _audit(plan)
    assert undo_plan(before, _compare_records(ORIGINAL)).is_empty


# (field, typed, cleaned value or the start of the error message)
VALIDATION = [
    pytest.param("cvr_number", "DK-12345678", "12345678", id="cvr-dk-prefix-stripped"),
    pytest.param("cvr_number", "12 34 56 78", "12345678", id="cvr-spaces"),
    pytest.param("cvr_number", "1234567", "CVR must be 8 digits", id="cvr-too-short"),
    pytest.param("cvr_number", "SE12345678", "CVR must be 8 digits", id="cvr-foreign-prefix"),
    pytest.param("email", "Info@Firma.dk", "Info@Firma.dk", id="email-ok"),
    pytest.param("email", "info@blåbær.dk", "info@blåbær.dk", id="email-danish-domain"),
    pytest.param("email", "info.firma.dk", "Email: 'info.firma.dk' is not an address", id="email-no-at"),
    pytest.param("email", "info@firma", "Email: 'info@firma' is not an address", id="email-no-domain"),
    pytest.param("email", "a@x.dk b@x.dk", "Email: 'a@x.dk b@x.dk' is not", id="email-only-one"),
    pytest.param("invoice_email", "a@x.dk; b@x.dk,c@x.dk", "a@x.dk b@x.dk c@x.dk", id="invoice-several"),
    pytest.param("invoice_email", "a@x.dk; nope", "Invoice email: 'nope' is not", id="invoice-one-bad"),
    pytest.param("phone", "+45 12 34 56 78", "+45 12 34 56 78", id="phone-ok"),
    pytest.param("mobile_phone", "(+45) 20-30-40-50", "(+45) 20-30-40-50", id="mobile-ok"),
    pytest.param("phone", "12 34 ab", "Phone may only hold digits", id="phone-letters"),
    pytest.param("phone", "+45", "Phone needs at least 5 digits", id="phone-too-few-digits"),
    pytest.param("postal_code", "DK-8000", "DK-8000", id="postal-ok"),
    pytest.param("postal_code", "80", "Postal code must be 3 to 10", id="postal-too-short"),
    pytest.param("postal_code", "12345678901", "Postal code must be 3 to 10", id="postal-too-long"),
    pytest.param("website", "https://www.firma.dk/kontakt", "https://www.firma.dk/kontakt", id="website-ok"),
    pytest.param("website", "firma", "Website: 'firma' is not a web address", id="website-no-domain"),
    pytest.param("website", "www.firma .dk", "Website: 'www.firma .dk' is not", id="website-space"),
    pytest.param("name", "  Jensen   ApS ", "Jensen ApS", id="name-whitespace-cleaned"),
    pytest.param("name", "  ", "Name cannot be empty", id="name-empty"),
    pytest.param("city", "", "", id="optional-field-cleared"),
    pytest.param("name", "N" * 256, "Name is too long: 256 characters, e-conomic allows 255", id="name-255"),
    pytest.param("address", "A" * 511, "Address is too long: 511", id="address-510"),
    pytest.param("city", "C" * 51, "City is too long: 51", id="city-50"),
    pytest.param("country", "L" * 51, "Country is too long: 51", id="country-50"),
    pytest.param("mobile_phone", "1" * 51, "Mobile is too long: 51", id="mobile-50"),
    pytest.param("address", "Hovedgaden 1\n8000", "Address contains a control character", id="control-char"),
    pytest.param("city", "Cafe\u0301", "Café", id="nfc"),
]


@pytest.mark.parametrize(("field", "typed", "expected"), VALIDATION)
def test_validate(field: str, typed: str, expected: str) -> None:
    try:
        cleaned = validate(field, typed)
    except InvalidValue as error:
        assert error.field == field
        assert error.message.startswith(expected), error.message
    else:
        assert cleaned == expected
