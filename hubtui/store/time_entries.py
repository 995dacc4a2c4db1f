"""Time entries: the approval queue's claims and decisions, its progress counts, and the entries an order bills.

Each function takes the connection (or pool) to run on, so a service can put several in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from hubtui.core.billing import EntryForBilling

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class EntryToReview:
    """One entry with what the wizard shows of its customer."""

    id: int
    customer_id: int
    customer_name: str
    economic_customer_number: int | None
    hourly_rate: Decimal | None  # the customer's own; None: the default applies
    contact: str | None
    work_date: date
    duration_minutes: int
    billable: bool
    billable_hours: Decimal | None  # set once approved
    description: str
    related_case: str | None


@dataclass(frozen=True, slots=True)
class QueueSize:
    """Entries in the queue since `since`: pending plus decided since then, in all and of one customer."""

    total: int
    customer_total: int


@dataclass(frozen=True, slots=True)
class BillingFacts:
    duration_minutes: int
    billable: bool


@dataclass(frozen=True, slots=True)
class EntryState:
    status: str
    decided_by: str | None
    claimed_by: str | None


@dataclass(frozen=True, slots=True)
class CustomerTime:
    pending: int
    approved_not_ordered: int


async def release_claims(conn: Conn, token: str, keep: Sequence[int] = ()) -> None:
    """Free the entries leased to `token`, except `keep`."""
    await conn.execute(
        "update time_entry set claimed_by = null, claimed_until = null "
        "where claimed_by = $1 and not (id = any($2::int[]))",
        token, list(keep),
    )


async def customers_with_pending(conn: Conn) -> list[int]:
    """Customers with pending time, in name order."""
    rows = await conn.fetch(
        "select c.id from customer c where exists (select 1 from time_entry e "
        "where e.customer_id = c.id and e.status = 'pending') order by lower(c.name), c.id"
    )
    return [row[0] for row in rows]


async def lock_first_free(conn: asyncpg.Connection, customer_id: int, skipped: Sequence[int]) -> int | None:
    """The customer's oldest pending entry that nobody holds, locked for the caller's transaction (entries
    locked by another transaction are passed over, not waited for)."""
    return await conn.fetchval(
        "select id from time_entry where customer_id = $1 and status = 'pending' "
        "and not (id = any($2::int[])) and (claimed_until is null or claimed_until < now()) "
        "order by work_date, id for update skip locked limit 1",
        customer_id, list(skipped),
    )


async def claim(conn: Conn, entry_id: int, token: str, minutes: int) -> None:
    await conn.execute(
        "update time_entry set claimed_by = $2, claimed_until = now() + make_interval(mins => $3) where id = $1",
        entry_id, token, minutes,
    )


async def entry_to_review(conn: Conn, entry_id: int) -> EntryToReview | None:
    row = await conn.fetchrow(
        "select e.id, e.customer_id, c.name, c.economic_customer_number, c.hourly_rate, e.contact, e.work_date, "
        "e.duration_minutes, e.billable, e.billable_hours, e.description, e.related_case "
        "from time_entry e join customer c on c.id = e.customer_id where e.id = $1",
        entry_id,
    )
    return None if row is None else EntryToReview(*row)


async def queue_size(conn: Conn, since: datetime, customer_id: int) -> QueueSize:
    # Each count reads a partial index (pending entries, decided ones), not the whole history.
    row = await conn.fetchrow(
        "select (select count(*) from time_entry where status = 'pending') "
        "+ (select count(*) from time_entry where decided_at >= $1), "
        "(select count(*) from time_entry where customer_id = $2 and status = 'pending') "
        "+ (select count(*) from time_entry where customer_id = $2 and decided_at >= $1)",
        since, customer_id,
    )
    return QueueSize(*row)


async def billing_facts(conn: Conn, entry_id: int) -> BillingFacts | None:
    row = await conn.fetchrow("select duration_minutes, billable from time_entry where id = $1", entry_id)
    return None if row is None else BillingFacts(*row)


async def decide(conn: Conn, entry_id: int, status: str, hours: Decimal | None, reason: str | None,
                 decided_by: str, token: str | None) -> int | None:
    """Record the decision while the entry is pending and its lease is `token`'s or free (None: only a free
    lease); return the entry's customer, or None when it did not land."""
    return await conn.fetchval(
        "update time_entry set status = $2, billable_hours = $3, reject_reason = $4, decided_by = $5, "
        "decided_at = now(), claimed_by = null, claimed_until = null "
        "where id = $1 and status = 'pending' "
        "and (claimed_by is not distinct from $6 or claimed_until is null or claimed_until < now()) "
        "returning customer_id",
        entry_id, status, hours, reason, decided_by, token,
    )


async def entry_state(conn: Conn, entry_id: int) -> EntryState | None:
    row = await conn.fetchrow("select status, decided_by, claimed_by from time_entry where id = $1", entry_id)
    return None if row is None else EntryState(*row)


async def reopen(conn: Conn, entry_id: int, decided: str, token: str, minutes: int) -> bool:
    """Put a decided entry that is on no order back to pending, leased to `token`; False when it is no longer
    `decided` or already on an order."""
    status = await conn.execute(
        "update time_entry set status = 'pending', billable_hours = null, reject_reason = null, "
        "decided_by = null, decided_at = null, claimed_by = $2, claimed_until = now() + make_interval(mins => $3) "
        "where id = $1 and status = $4 and order_id is null",
        entry_id, token, minutes, decided,
    )
    return not status.endswith(" 0")


async def customer_time(conn: Conn, customer_id: int) -> CustomerTime:
    """Pending entries, and approved entries with hours to bill (more than 0) on no order."""
    row = await conn.fetchrow(
        "select count(*) filter (where status = 'pending'), "
        "count(*) filter (where status = 'approved' and order_id is null and billable_hours > 0) "
        "from time_entry where customer_id = $1", customer_id,
    )
    return CustomerTime(*row)


async def lock_unordered_approved(conn: asyncpg.Connection, customer_id: int) -> list[EntryForBilling]:
    """The customer's approved entries with hours to bill on no order, locked for the caller's transaction.

    Entries approved at 0 hours (not billable) stay off orders: an invoice lists what the customer pays for."""
    rows = await conn.fetch(
        "select id, work_date, description, billable_hours, related_case from time_entry "
        "where customer_id = $1 and status = 'approved' and order_id is null and billable_hours > 0 for update",
        customer_id,
    )
    return [EntryForBilling(*row) for row in rows]


async def put_on_order(conn: Conn, order_id: int, entry_ids: Sequence[int]) -> None:
    await conn.execute("update time_entry set order_id = $1 where id = any($2::int[])", order_id, list(entry_ids))


async def mark_billed(conn: Conn, order_id: int) -> None:
    await conn.execute("update time_entry set status = 'billed' where order_id = $1", order_id)
