"""Eight demo customers in the hub, with pending time entries as vTiger's Timelogs import leaves them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hubtui.sandbox.demo_data import demo_companies
from hubtui.services.demo import replace_all_customers
from hubtui.store.db import Database

COMPANIES = demo_companies(8)
# Customers by id (replace_all_customers restarts the ids at 1). Their names start with different ASCII
# letters, so the queue order (by name) is the same under any collation.
BLAA = 4  # "Blå VVS & Søn", 925.50/h
GUDENAA = 5  # "Gudenå VVS Holding ApS", 1100.00/h
MOLS = 2  # "Mols Maler ApS", no rate of its own: TIMETRACKING_DEFAULT_RATE (850.00)


def name(customer_id: int) -> str:
    return COMPANIES[customer_id - 1].name


@dataclass(frozen=True)
class Entry:
    customer_id: int
    minutes: int
    description: str = "Printer setup"
    work_date: date = date(2026, 1, 21)
    contact: str | None = "Mette Hansen"
    related_case: str | None = "CC123"
    billable: bool = True


async def seed(db: Database, entries: list[Entry]) -> list[int]:
    """The demo customers and `entries` (pending), returning the entries' ids in the order given."""
    # The tests rely on these three (their rates and their order by name); the demo data is seeded, so fixed.
    assert [(name(c), COMPANIES[c - 1].hourly_rate) for c in (BLAA, GUDENAA, MOLS)] == [
        ("Blå VVS & Søn", Decimal("925.50")), ("Gudenå VVS Holding ApS", Decimal("1100.00")), ("Mols Maler ApS", None)]
    await replace_all_customers(db, COMPANIES)
    ids = []
    for number, entry in enumerate(entries, start=1):
        ids.append(await db.pool.fetchval(
            "insert into time_entry (remote_id, customer_id, contact, work_date, duration_minutes, billable, "
            "description, related_case, status) values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') returning id",
            f"43x{number}", entry.customer_id, entry.contact, entry.work_date, entry.minutes, entry.billable,
            entry.description, entry.related_case,
        ))
    return ids
