"""Hub customers: one record, the values the consistency check compares, guarded field writes, counts, and
new customers from an import.

Each function takes the connection (or pool) to run on, so a service can put several in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from hubtui.core.fields import FIELDS

Conn = asyncpg.Connection | asyncpg.Pool

_FIELD_LIST = ", ".join(FIELDS)


@dataclass(frozen=True, slots=True)
class HubCustomer:
    """One customer as the hub holds it."""

    id: int
    name: str
    cvr_number: str | None
    address: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    phone: str | None
    mobile_phone: str | None
    email: str | None
    website: str | None
    invoice_email: str | None
    vtiger_id: str | None
    economic_customer_number: int | None
    hourly_rate: Decimal | None
    discrepancy_count: int | None  # None: not checked yet
    checked_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def values(self) -> dict[str, object]:
        """The compared fields, keyed by hub field name."""
        return {name: getattr(self, name) for name in FIELDS}


_HUB_CUSTOMER = (
    f"select id, {_FIELD_LIST}, vtiger_id, economic_customer_number, hourly_rate, discrepancy_count, "
    "checked_at, created_at, updated_at from customer where id = $1"
)


async def get_customer(conn: Conn, customer_id: int) -> HubCustomer | None:
    row = await conn.fetchrow(_HUB_CUSTOMER, customer_id)
    return None if row is None else HubCustomer(*row)


@dataclass(frozen=True, slots=True)
class CustomerValues:
    """What a fleet check compares of one customer: its fields and its links to vTiger and e-conomic."""

    id: int
    values: dict[str, object]  # keyed by hub field name
    vtiger_id: str | None
    economic_customer_number: int | None

    @property
    def name(self) -> str:
        return str(self.values["name"])


async def customers_to_compare(conn: Conn, customer_ids: Sequence[int] | None = None) -> list[CustomerValues]:
    """Every customer (or those of `customer_ids`), by id."""
    rows = await conn.fetch(
        f"select id, vtiger_id, economic_customer_number, {_FIELD_LIST} from customer "
        "where $1::int[] is null or id = any($1) order by id",
        None if customer_ids is None else list(customer_ids),
    )
    return [CustomerValues(row[0], {name: row[name] for name in FIELDS}, row[1], row[2]) for row in rows]


async def count_customers(conn: Conn) -> int:
    return int(await conn.fetchval("select count(*) from customer"))


async def last_checked(conn: Conn) -> datetime | None:
    """When the consistency check last stored a count; None if it never did."""
    value: datetime | None = await conn.fetchval("select max(checked_at) from customer")
    return value


async def store_discrepancy_counts(conn: Conn, counts: Mapping[int, int]) -> None:
    """Customer id → discrepancies found now; each one's `checked_at` becomes now."""
    await conn.execute(
        "update customer c set discrepancy_count = v.count, checked_at = now() "
        "from unnest($1::int[], $2::int[]) as v(id, count) where c.id = v.id",
        list(counts), list(counts.values()),
    )


async def store_discrepancy_count(conn: Conn, customer_id: int, count: int) -> None:
    await conn.execute(
        "update customer set discrepancy_count = $2, checked_at = now() where id = $1", customer_id, count,
    )


async def write_fields(conn: Conn, customer_id: int, changes: Mapping[str, str | None],
                       seen: Mapping[str, str | None]) -> bool:
    """Set `changes` only if every one of those fields still holds what was `seen` (a blank stored value
    counts as empty, None); False when anyone changed one since (hubtui or psql) and nothing was written."""
    unknown = set(changes) - set(FIELDS)
    if unknown or not changes:
        # The names become SQL: only the hub's own field names are ever let through.
        raise ValueError(f"not hub customer fields: {sorted(unknown) or 'none given'}")
    assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(changes, start=2))
    first_guard = len(changes) + 2
    guards = " and ".join(
        f"(case when ${n}::text is null then nullif(btrim({name}), '') is null else {name} = ${n} end)"
        for n, name in enumerate(changes, start=first_guard)
    )
    status = await conn.execute(
        f"update customer set {assignments}, updated_at = now() where id = $1 and {guards}",
        customer_id, *changes.values(), *(seen[name] for name in changes),
    )
    return not status.endswith(" 0")


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """A customer to create: its fields, links and rate (everything else the hub fills in)."""

    name: str
    cvr_number: str | None = None
    address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    email: str | None = None
    website: str | None = None
    invoice_email: str | None = None
    vtiger_id: str | None = None
    economic_customer_number: int | None = None
    hourly_rate: Decimal | None = None


# Everything a NewCustomer holds, in its order.
NEW_CUSTOMER_COLUMNS = (*FIELDS, "vtiger_id", "economic_customer_number", "hourly_rate")

_INSERT_CUSTOMERS = (
    f"insert into customer ({_FIELD_LIST}, vtiger_id, economic_customer_number) "
    f"select * from unnest({', '.join(f'${n}::text[]' for n in range(1, len(FIELDS) + 2))}, "
    f"${len(FIELDS) + 2}::int[]) "
    # No conflict target: a vTiger id another run just imported, and an e-conomic number another customer
    # already has, are both left alone; the caller tells the two apart afterwards.
    "on conflict do nothing returning vtiger_id, id"
)


async def insert_linked_customers(conn: Conn, customers: Sequence[NewCustomer]) -> dict[str, int]:
    """Create customers that each have a vTiger id, in one statement; return the hub id by vTiger id of those
    created. One that would repeat a vTiger id or an e-conomic number already in the hub is left out."""
    if not customers:
        return {}
    columns: list[list[object]] = [[getattr(c, name) for c in customers] for name in FIELDS]
    columns += [[c.vtiger_id for c in customers], [c.economic_customer_number for c in customers]]
    return {row["vtiger_id"]: row["id"] for row in await conn.fetch(_INSERT_CUSTOMERS, *columns)}


async def ids_by_vtiger_id(conn: Conn, vtiger_ids: Sequence[str] | None = None) -> dict[str, int]:
    """Hub customer id by vTiger id: of `vtiger_ids`, or of every customer linked to vTiger (one scan,
    which beats a lookup per page while the planner still thinks a freshly filled table is empty)."""
    if vtiger_ids is None:
        rows = await conn.fetch("select vtiger_id, id from customer where vtiger_id is not null")
    else:
        rows = await conn.fetch("select vtiger_id, id from customer where vtiger_id = any($1::text[])",
                                list(vtiger_ids))
    return {row["vtiger_id"]: row["id"] for row in rows}


@dataclass(frozen=True, slots=True)
class CustomerLink:
    """Who a customer is and which remote records it is linked to."""

    id: int
    name: str
    vtiger_id: str | None
    economic_customer_number: int | None


async def holders_of_economic_numbers(conn: Conn, numbers: Sequence[int]) -> dict[int, CustomerLink]:
    """The hub customer holding each of these e-conomic customer numbers, by number."""
    rows = await conn.fetch(
        "select id, name, vtiger_id, economic_customer_number from customer "
        "where economic_customer_number = any($1::int[])",
        list(numbers),
    )
    return {row["economic_customer_number"]: CustomerLink(*row) for row in rows}
