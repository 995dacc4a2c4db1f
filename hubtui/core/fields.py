"""The customer field map: which hub field is which field in vTiger Accounts and in e-conomic customers.

From the seed, with its bug fixed: e-conomic `email` is the address invoices go to, so only the hub's
`invoice_email` maps there; the hub's general `email` has no e-conomic counterpart. Field names that
differ per vTiger installation (CVR, mobile) come from settings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from hubtui.config import Settings
from hubtui.i18n import Labels

System = Literal["hub", "vtiger", "economic"]
SYSTEMS: tuple[System, ...] = ("hub", "vtiger", "economic")

# How a support person writes the systems' names, in any language.
SYSTEM_NAMES: dict[str, str] = {"hub": "hub", "vtiger": "vTiger", "economic": "e-conomic"}

# The hub's customer fields in the order screens list them.
FIELDS: tuple[str, ...] = (
    "name", "cvr_number", "address", "city", "postal_code", "country",
    "phone", "mobile_phone", "email", "website", "invoice_email",
)

# The e-conomic side does not depend on settings, so it is known without them (validation needs it).
ECONOMIC_FIELDS: dict[str, str | None] = {
    "name": "name",
    "cvr_number": "corporateIdentificationNumber",
    "address": "address",
    "city": "city",
    "postal_code": "zip",
    "country": "country",
    "phone": "telephoneAndFaxNumber",
    "mobile_phone": "mobilePhone",
    "email": None,
    "website": "website",
    "invoice_email": "email",
}

# From e-conomic's customer schema: a longer value makes the whole PUT fail.
ECONOMIC_MAX_LENGTHS: dict[str, int] = {
    "name": 255,
    "address": 510,
    "zip": 30,
    "city": 50,
    "country": 50,
    "corporateIdentificationNumber": 40,
    "telephoneAndFaxNumber": 255,
    "mobilePhone": 50,
    "email": 255,
    "website": 255,
}

# Per hub field. The general e-mail has no e-conomic field; it gets the invoice address's bound so
# either address can become the other.
MAX_LENGTHS: dict[str, int] = {
    **{hub: ECONOMIC_MAX_LENGTHS[name] for hub, name in ECONOMIC_FIELDS.items() if name is not None},
    "email": ECONOMIC_MAX_LENGTHS["email"],
}

# Fields no system accepts empty: vTiger `accountname` is mandatory, e-conomic `name` has minLength 1.
REQUIRED_FIELDS: frozenset[str] = frozenset({"name"})

_ENGLISH = Labels("en")


def field_label(field: str) -> str:
    """The English label of a hub field ("CVR", "Invoice email"), as reasons and messages use it."""
    return _ENGLISH(field)


def system_name(system: str) -> str:
    return SYSTEM_NAMES.get(system, system)


@dataclass(frozen=True, slots=True)
class FieldMapping:
    hub: str
    vtiger: str | None  # None: vTiger has no such field ("not in vTiger")
    economic: str | None  # None: e-conomic has no such field ("not in e-conomic")

    def name_in(self, system: str) -> str | None:
        """The field's name in `system`, or None when that system has no such field."""
        if system == "hub":
            return self.hub
        if system == "vtiger":
            return self.vtiger
        if system == "economic":
            return self.economic
        raise ValueError(f"unknown system {system!r}")


def field_map(settings: Settings) -> tuple[FieldMapping, ...]:
    vtiger = {
        "name": "accountname",
        "cvr_number": settings.vtiger_cvr_field or None,
        "address": "bill_street",
        "city": "bill_city",
        "postal_code": "bill_code",
        "country": "bill_country",
        "phone": "phone",
        "mobile_phone": settings.vtiger_mobile_field or None,
        "email": "email1",
        "website": "website",
        "invoice_email": "email2",
    }
    return tuple(FieldMapping(field, vtiger[field], ECONOMIC_FIELDS[field]) for field in FIELDS)


def described_field_map(settings: Settings, known: Collection[str]) -> tuple[FieldMapping, ...]:
    """The field map with the vTiger fields this installation's `describe` does not list (`known`) turned
    into "not in vTiger": a custom field named in settings may not exist everywhere."""
    return tuple(
        FieldMapping(m.hub, m.vtiger if m.vtiger in known else None, m.economic) for m in field_map(settings)
    )


def vtiger_account_columns(mappings: Iterable[FieldMapping], *extra: str) -> list[str]:
    """The select list for a bulk read of Accounts: id, modifiedtime, the mapped fields and `extra`.

    Not `*`: a real Accounts record carries dozens of fields nobody here reads, and with `*` every one of
    them is sent, parsed and entity-decoded for every account (3-4x the bytes of the fields used). Each name
    must be one `describe` lists, or vTiger refuses the whole query.
    """
    names = ("id", "modifiedtime", *(m.vtiger for m in mappings if m.vtiger), *extra)
    return list(dict.fromkeys(name for name in names if name))


def without_nul(value: object) -> object:
    """Postgres text and JSONB cannot hold NUL; keep it visible as ␀ rather than fail the whole import."""
    if isinstance(value, str):
        return value.replace("\x00", "\u2400")
    if isinstance(value, dict):
        return {key: without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def hub_values_from_vtiger(account: dict[str, object], settings: Settings) -> dict[str, str | None]:
    """The hub's customer fields as a vTiger account states them (empty strings become None)."""
    values: dict[str, str | None] = {}
    for mapping in field_map(settings):
        if mapping.vtiger is None:
            continue
        raw = account.get(mapping.vtiger)
        text = str(without_nul(raw)).strip() if raw is not None else ""
        values[mapping.hub] = text or None
    return values
