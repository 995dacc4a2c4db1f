"""The customer field map: which hub field is which field in vTiger Accounts and in e-conomic customers.

From the seed, with its bug fixed: e-conomic `email` is the address invoices go to, so only the hub's
`invoice_email` maps there; the hub's general `email` has no e-conomic counterpart. Field names that
differ per vTiger installation (CVR, mobile) come from settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubtui.config import Settings

SYSTEMS = ("hub", "vtiger", "economic")


@dataclass(frozen=True, slots=True)
class FieldMapping:
    hub: str
    vtiger: str | None  # None: vTiger has no such field ("not in vTiger")
    economic: str | None  # None: e-conomic has no such field ("not in e-conomic")


def field_map(settings: Settings) -> tuple[FieldMapping, ...]:
    return (
        FieldMapping("name", "accountname", "name"),
        FieldMapping("cvr_number", settings.vtiger_cvr_field or None, "corporateIdentificationNumber"),
        FieldMapping("address", "bill_street", "address"),
        FieldMapping("city", "bill_city", "city"),
        FieldMapping("postal_code", "bill_code", "zip"),
        FieldMapping("country", "bill_country", "country"),
        FieldMapping("phone", "phone", "telephoneAndFaxNumber"),
        FieldMapping("mobile_phone", settings.vtiger_mobile_field or None, "mobilePhone"),
        FieldMapping("email", "email1", None),
        FieldMapping("website", "website", "website"),
        FieldMapping("invoice_email", "email2", "email"),
    )


def hub_values_from_vtiger(account: dict[str, object], settings: Settings) -> dict[str, str | None]:
    """The hub's customer fields as a vTiger account states them (empty strings become None)."""
    values: dict[str, str | None] = {}
    for mapping in field_map(settings):
        if mapping.vtiger is None:
            continue
        raw = account.get(mapping.vtiger)
        text = str(raw).strip() if raw is not None else ""
        values[mapping.hub] = text or None
    return values
