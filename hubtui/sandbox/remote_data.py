"""The records vTiger and e-conomic hold in the sandbox: the hub's demo companies, with planted differences.

Everything is derived deterministically from `demo_companies(count, seed)`, so the hub (seeded from the same
call) and the sandboxes disagree in exactly the ways listed in `RemoteData.planted`.

Planted differences follow the company index `i` (`PLANT_CYCLE` below, repeating every 20 companies); a
difference is only planted when the hub has a value for that field:

- formatting only (normalisation must make them equal): phone spacing and `+45`, upper-case city/name,
  `DK`/`DK-` before the CVR, `https://` and a trailing `/` on the website, `Denmark`/`DK` for `Danmark`,
  doubled/trailing spaces in the name, and every vTiger name containing `&` stored as `&amp;`;
- real: another street, city, e-mail, invoice e-mail, and a phone number missing in e-conomic; every 20th
  company (index 19, 39, …) has three real differences at once;
- record level: company index 6 is missing from e-conomic, vTiger account `3x999` has no hub company, and
  e-conomic customer 9001 has no hub company.

vTiger records are stored sparse (only non-empty fields); the vTiger app fills the rest with blanks.
Timelogs: ~20 customers (every third of the first 60 companies) have 2-6 pending entries each, in
September-November 2026. `duration` is **minutes, as a string** (e.g. `"90"`); `billable` is `'1'`/`'0'`;
about a third carry `case_id`, a HelpDesk ticket of the same account.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from hubtui.core.memory import collector_paused
from hubtui.sandbox.demo_data import DemoCompany, demo_companies

ACCOUNTS_PREFIX = "3"
CONTACTS_PREFIX = "4"
HELPDESK_PREFIX = "17"
USERS_PREFIX = "19"
TIMELOGS_PREFIX = "43"
SANDBOX_USER_ID = f"{USERS_PREFIX}x1"

MISSING_FROM_ECONOMIC_INDEX = 6
ORPHAN_VTIGER_ID = f"{ACCOUNTS_PREFIX}x999"
ECONOMIC_ONLY_CUSTOMER_NUMBER = 9001
TIMELOG_MODULE = "Timelogs"

_BASE_TIME = datetime(2025, 3, 1, 8, 0, 0)

Kind = Literal["formatting", "real", "missing_in_economic", "only_in_vtiger", "only_in_economic"]
System = Literal["vtiger", "economic"]


@dataclass(frozen=True, slots=True)
class PlantedDifference:
    """One way a remote record deliberately differs from the hub company (field is the hub field name)."""

    system: System
    kind: Kind
    field: str | None
    vtiger_id: str | None
    economic_customer_number: int | None
    hub_value: str | None
    remote_value: str | None


@dataclass
class RemoteData:
    """Sparse vTiger records per module (id -> fields) and e-conomic customers (number -> API shape)."""

    companies: list[DemoCompany]
    vtiger_accounts: dict[str, dict[str, str]]
    vtiger_contacts: dict[str, dict[str, str]]
    vtiger_cases: dict[str, dict[str, str]]
    vtiger_timelogs: dict[str, dict[str, str]]
    economic_customers: dict[int, dict[str, Any]]
    planted: list[PlantedDifference] = field(default_factory=list)

    def vtiger_modules(self) -> dict[str, dict[str, dict[str, str]]]:
        return {
            "Accounts": self.vtiger_accounts,
            "Contacts": self.vtiger_contacts,
            "HelpDesk": self.vtiger_cases,
            TIMELOG_MODULE: self.vtiger_timelogs,
        }


def vtiger_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def build_remote_data(
    count: int = 200,
    seed: int = 2026,
    *,
    companies: Sequence[DemoCompany] | None = None,
) -> RemoteData:
    """vTiger and e-conomic records for `demo_companies(count, seed)` (or the given companies).

    Pass `companies` when you already built them: `demo_companies(100_000)` alone takes about a second,
    this function adds about half a second for 100,000 companies.
    """
    company_list = list(companies) if companies is not None else demo_companies(count, seed)
    with collector_paused():
        return _build(company_list, seed)


def _build(company_list: list[DemoCompany], seed: int) -> RemoteData:
    accounts: dict[str, dict[str, str]] = {}
    customers: dict[int, dict[str, Any]] = {}
    planted: list[PlantedDifference] = []
    for index, company in enumerate(company_list):
        account = _vtiger_account(index, company)
        customer = _economic_customer(index, company)
        if company.name and "&" in company.name:
            account["accountname"] = company.name.replace("&", "&amp;")
            planted.append(_diff(company, "vtiger", "formatting", "name", account["accountname"]))
        plant = PLANT_CYCLE[index % len(PLANT_CYCLE)]
        if plant is not None:
            plant(company, account, customer, planted)
        accounts[company.vtiger_id] = account
        if index == MISSING_FROM_ECONOMIC_INDEX:
            planted.append(_diff(company, "economic", "missing_in_economic", None, None))
        elif company.economic_customer_number is not None:
            customers[company.economic_customer_number] = customer

    accounts[ORPHAN_VTIGER_ID] = _orphan_account()
    planted.append(PlantedDifference("vtiger", "only_in_vtiger", None, ORPHAN_VTIGER_ID, None, None,
                                     accounts[ORPHAN_VTIGER_ID]["accountname"]))
    customers[ECONOMIC_ONLY_CUSTOMER_NUMBER] = _economic_only_customer()
    extra = customers[ECONOMIC_ONLY_CUSTOMER_NUMBER]
    planted.append(PlantedDifference("economic", "only_in_economic", None, None, extra["customerNumber"],
                                     None, extra["name"]))

    contacts, cases, timelogs = _time_tracking(company_list, seed)
    return RemoteData(company_list, accounts, contacts, cases, timelogs, customers, planted)


# Timestamps come from two small tables of pre-formatted strings: strftime would be the slowest part of
# building 100,000 companies.
_DAYS = tuple((_BASE_TIME.date() + timedelta(days=day)).isoformat() for day in range(700))
_CLOCK = tuple(f"{minute // 60:02d}:{minute % 60:02d}:{minute * 7 % 60:02d}" for minute in range(1440))


def _stamp(day: int, minute: int, separator: str = " ", suffix: str = "") -> str:
    return _DAYS[day % 700] + separator + _CLOCK[minute % 1440] + suffix


def _vtiger_account(index: int, company: DemoCompany) -> dict[str, str]:
    created_day, created_minute = divmod(8 * 60 + index, 1440)
    account = {
        "id": company.vtiger_id,
        "accountname": company.name,
        "account_no": f"ACC{index + 1}",
        "accounttype": "Customer",
        "assigned_user_id": SANDBOX_USER_ID,
        "modifiedby": SANDBOX_USER_ID,
        "createdtime": _stamp(created_day, created_minute),
        "modifiedtime": _stamp(created_day + 30 + index % 200, index * 13),
    }
    # Plain ifs instead of filtering a dict literal: twice as fast for big data sets.
    if company.phone:
        account["phone"] = company.phone
    if company.email:
        account["email1"] = company.email
    if company.invoice_email:
        account["email2"] = company.invoice_email
    if company.website:
        account["website"] = company.website
    if company.address:
        account["bill_street"] = company.address
    if company.city:
        account["bill_city"] = company.city
    if company.postal_code:
        account["bill_code"] = company.postal_code
    if company.country:
        account["bill_country"] = company.country
    if company.cvr_number:
        account["cf_856"] = company.cvr_number
    if company.economic_customer_number:
        account["cf_854"] = str(company.economic_customer_number)
    return account


def _economic_customer(index: int, company: DemoCompany) -> dict[str, Any]:
    customer: dict[str, Any] = {
        "customerNumber": company.economic_customer_number,
        "name": company.name,
        "currency": "DKK",
        "customerGroup": {"customerGroupNumber": 1},
        "paymentTerms": {"paymentTermsNumber": 1},
        "vatZone": {"vatZoneNumber": 1},
        "layout": {"layoutNumber": 19},
        "lastUpdated": _stamp(10 + index % 300, 480 + index * 7 % 600, "T", "Z"),
    }
    if company.address:
        customer["address"] = company.address
    if company.postal_code:
        customer["zip"] = company.postal_code
    if company.city:
        customer["city"] = company.city
    if company.country:
        customer["country"] = company.country
    if company.cvr_number:
        customer["corporateIdentificationNumber"] = company.cvr_number
    if company.phone:
        customer["telephoneAndFaxNumber"] = company.phone
    if company.mobile_phone:
        customer["mobilePhone"] = company.mobile_phone
    # e-conomic `email` is where invoices go: the hub's invoice_email, not its general e-mail.
    if company.invoice_email:
        customer["email"] = company.invoice_email
    if company.website:
        customer["website"] = company.website
    return customer


def _diff(company: DemoCompany, system: System, kind: Kind, hub_field: str | None,
          remote_value: str | None) -> PlantedDifference:
    hub_value = getattr(company, hub_field) if hub_field else None
    number = company.economic_customer_number
    return PlantedDifference(system, kind, hub_field, company.vtiger_id, number, hub_value, remote_value)


Plant = Callable[[DemoCompany, dict[str, str], dict[str, Any], list[PlantedDifference]], None]


def _set(system: System, kind: Kind, hub_field: str, remote_field: str,
         change: Callable[[str], str]) -> Plant:
    """A plant that rewrites one field in one system, when the hub has a value for it."""

    def plant(company: DemoCompany, account: dict[str, str], customer: dict[str, Any],
              planted: list[PlantedDifference]) -> None:
        hub_value = getattr(company, hub_field)
        if not hub_value:
            return
        record = account if system == "vtiger" else customer
        source = record.get(remote_field, hub_value)
        record[remote_field] = change(source)
        planted.append(_diff(company, system, kind, hub_field, record[remote_field]))

    return plant


def _drop(system: System, hub_field: str, remote_field: str) -> Plant:
    def plant(company: DemoCompany, account: dict[str, str], customer: dict[str, Any],
              planted: list[PlantedDifference]) -> None:
        if getattr(company, hub_field):
            (account if system == "vtiger" else customer).pop(remote_field, None)
            planted.append(_diff(company, system, "real", hub_field, None))

    return plant


def _both(*plants: Plant) -> Plant:
    def plant(company: DemoCompany, account: dict[str, str], customer: dict[str, Any],
              planted: list[PlantedDifference]) -> None:
        for one in plants:
            one(company, account, customer, planted)

    return plant


def _spaced_phone(phone: str) -> str:
    return " ".join(phone[i:i + 2] for i in range(0, len(phone), 2))


def _other_street(street: str) -> str:
    name, _, number = street.rpartition(" ")
    return f"{name} {int(number) + 7}" if number.isdigit() else f"{street} 2"


def _moved_city(city: str) -> str:
    return "Vejle" if city != "Vejle" else "Kolding"


def _other_mailbox(mailbox: str) -> Callable[[str], str]:
    return lambda email: f"{mailbox}@{email.partition('@')[2]}"


def _other_phone(phone: str) -> str:
    digits = "".join(char for char in phone if char.isdigit())
    return digits[:-2] + f"{(int(digits[-2:] or 0) + 11) % 100:02d}"


def _https(website: str) -> str:
    return f"https://{website}/"


def _shout(value: str) -> str:
    return value.upper()


# One entry per `index % 20`; None plants nothing, so about a quarter of the companies match exactly.
PLANT_CYCLE: tuple[Plant | None, ...] = (
    None,
    _set("vtiger", "formatting", "phone", "phone", _spaced_phone),
    _set("economic", "formatting", "phone", "telephoneAndFaxNumber", lambda p: f"+45 {p}"),
    _set("vtiger", "formatting", "city", "bill_city", _shout),
    _set("economic", "formatting", "cvr_number", "corporateIdentificationNumber", lambda c: f"DK{c}"),
    _set("vtiger", "formatting", "website", "website", _https),
    _set("economic", "formatting", "country", "country", lambda _: "DK"),
    _set("vtiger", "real", "address", "bill_street", _other_street),
    _set("vtiger", "formatting", "name", "accountname", lambda n: f"{n.replace(' ', '  ', 1)} "),
    _set("economic", "real", "city", "city", _moved_city),
    _set("vtiger", "real", "email", "email1", _other_mailbox("info")),
    _set("vtiger", "formatting", "cvr_number", "cf_856", lambda c: f"DK-{c}"),
    _set("vtiger", "formatting", "country", "bill_country", lambda _: "Denmark"),
    _drop("economic", "phone", "telephoneAndFaxNumber"),
    _set("economic", "formatting", "website", "website", _https),
    _set("economic", "real", "invoice_email", "email", _other_mailbox("bogholderi")),
    _set("vtiger", "formatting", "phone", "phone", lambda p: f"+45 {_spaced_phone(p)}"),
    _set("economic", "formatting", "name", "name", _shout),
    _both(
        _set("vtiger", "formatting", "phone", "phone", lambda p: f"+45{p}"),
        _set("economic", "real", "address", "address", _other_street),
    ),
    # Three real differences whose suggestions are right (2 of 3 agree each): one pass through the diff
    # fixes vTiger and e-conomic at once.
    _both(
        _set("vtiger", "real", "address", "bill_street", _other_street),
        _set("economic", "real", "city", "city", _moved_city),
        _set("vtiger", "real", "phone", "phone", _other_phone),
    ),
)


def _orphan_account() -> dict[str, str]:
    return {
        "id": ORPHAN_VTIGER_ID,
        "accountname": "Kattegat Fiskeeksport ApS",
        "account_no": "ACC999",
        "phone": "98 12 34 56",
        "email1": "salg@kattegatfisk.dk",
        "bill_street": "Havnegade 3",
        "bill_city": "Frederikshavn",
        "bill_code": "9900",
        "bill_country": "Danmark",
        "cf_856": "31415926",
        "accounttype": "Prospect",
        "assigned_user_id": SANDBOX_USER_ID,
        "modifiedby": SANDBOX_USER_ID,
        "createdtime": "2025-02-11 09:14:00",
        "modifiedtime": "2026-10-02 13:45:10",
    }


def _economic_only_customer() -> dict[str, Any]:
    return {
        "customerNumber": ECONOMIC_ONLY_CUSTOMER_NUMBER,
        "name": "Diverse kontantkunder",
        "currency": "DKK",
        "customerGroup": {"customerGroupNumber": 1},
        "paymentTerms": {"paymentTermsNumber": 1},
        "vatZone": {"vatZoneNumber": 1},
        "layout": {"layoutNumber": 19},
        "lastUpdated": "2025-01-05T10:00:00Z",
    }


_FIRST_NAMES = ("Mette", "Lars", "Anne", "Søren", "Kirsten", "Jens", "Hanne", "Mikkel", "Louise", "Ole",
                "Birgitte", "Rasmus", "Pernille", "Henrik", "Camilla", "Niels", "Sofie", "Bjørn")
_LAST_NAMES = ("Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen",
               "Rasmussen", "Jørgensen", "Madsen", "Kristensen", "Østergaard", "Møller", "Bæk")
_CASE_TITLES = ("Printer på kontoret virker ikke", "VPN falder ud flere gange dagligt",
                "Ny medarbejder skal oprettes", "Langsom netværksforbindelse i lageret",
                "Mailboks fuld hos bogholderiet", "Server genstarter om natten")
_WORK = (
    "Opsætning af ny printer og drivere på alle pc'er",
    "Fejlsøgning på VPN-forbindelse til hjemmearbejdspladser",
    "Opdatering af Windows-servere og genstart efter lukketid",
    "Kontrol af backup og test af gendannelse",
    "Oprettelse af ny medarbejder i Microsoft 365 og Teams",
    "Udskiftning af switch i serverrum",
    "Gennemgang af firewall-regler med ejeren",
    "Telefonsupport: nulstilling af adgangskode",
    "Flytning af postkasser til ny licens",
    "Installation af regnskabsprogram på bogholderiets pc",
    "Møde om IT-sikkerhed og to-faktor-login",
    "Opsætning af trådløst netværk i kantinen",
    "Gennemgang af &quot;Kundeportal&quot; med kontoret",
    "Kørsel og opsætning af skærme på ny adresse",
)
_DURATIONS = ("15", "30", "45", "60", "75", "90", "120", "150", "180", "240", "20", "50", "95")


def _time_tracking(companies: Sequence[DemoCompany], seed: int) -> tuple[
        dict[str, dict[str, str]], dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """One contact and one HelpDesk case per chosen customer, and 2-6 pending timelogs each."""
    rng = random.Random(f"{seed}-timelogs")
    contacts: dict[str, dict[str, str]] = {}
    cases: dict[str, dict[str, str]] = {}
    timelogs: dict[str, dict[str, str]] = {}
    # Start the other modules' record numbers past the accounts, as vtiger's shared crmid sequence would.
    next_number = 1000 + len(companies) + 1000
    chosen = [i for i in range(min(len(companies), 60)) if i % 3 == 0]
    for index in chosen:
        company = companies[index]
        contact_id = f"{CONTACTS_PREFIX}x{next_number}"
        case_id = f"{HELPDESK_PREFIX}x{next_number + 1}"
        next_number += 2
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        domain = (company.email or company.invoice_email or "kunde.dk").partition("@")[2]
        contacts[contact_id] = {
            "id": contact_id, "firstname": first, "lastname": last, "contact_no": f"CON{len(contacts) + 1}",
            "email": f"{first.lower().replace('ø', 'oe')}@{domain}", "phone": company.phone or "",
            "account_id": company.vtiger_id, "assigned_user_id": SANDBOX_USER_ID,
            "modifiedby": SANDBOX_USER_ID, "createdtime": "2026-01-15 09:00:00",
            "modifiedtime": "2026-01-15 09:00:00",
        }
        cases[case_id] = {
            "id": case_id, "ticket_title": rng.choice(_CASE_TITLES), "ticket_no": f"TT{len(cases) + 1}",
            "parent_id": company.vtiger_id, "contact_id": contact_id, "ticketstatus": "Open",
            "ticketpriorities": "Normal", "assigned_user_id": SANDBOX_USER_ID, "modifiedby": SANDBOX_USER_ID,
            "createdtime": "2026-09-01 08:30:00", "modifiedtime": "2026-09-01 08:30:00",
        }
        for _ in range(rng.randint(2, 6)):
            timelog_id = f"{TIMELOGS_PREFIX}x{next_number}"
            next_number += 1
            day = datetime(2026, 9, 1) + timedelta(days=rng.randint(0, 75))
            stamp = vtiger_time(day + timedelta(hours=rng.randint(8, 16), minutes=rng.choice((0, 15, 30))))
            entry = {
                "id": timelog_id,
                "related_to": company.vtiger_id,
                "contact_id": contact_id if rng.random() < 0.8 else "",
                "date_start": day.strftime("%Y-%m-%d"),
                "duration": rng.choice(_DURATIONS),
                "description": rng.choice(_WORK),
                "billable": "1" if rng.random() < 0.8 else "0",
                "case_id": case_id if rng.random() < 0.35 else "",
                "assigned_user_id": SANDBOX_USER_ID,
                "modifiedby": SANDBOX_USER_ID,
                "createdtime": stamp,
                "modifiedtime": stamp,
            }
            timelogs[timelog_id] = {key: value for key, value in entry.items() if value}
    return contacts, cases, timelogs
