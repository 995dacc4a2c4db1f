"""Customers' own hourly rates (customer.hourly_rate; NULL: TIMETRACKING_DEFAULT_RATE applies).

Each function takes the connection (or pool) to run on, so a service can put several in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class CurrentRate:
    hourly_rate: Decimal | None


@dataclass(frozen=True, slots=True)
class CustomerRate:
    """A customer on the rates screen: its rate and the time waiting to be decided or ordered."""

    id: int
    name: str
    hourly_rate: Decimal | None
    economic_customer_number: int | None
    pending: int
    approved: int  # approved and on no order yet


async def lock_rate(conn: asyncpg.Connection, customer_id: int) -> CurrentRate | None:
    """The customer's rate, locked until the caller's transaction ends; None when the customer is gone."""
    row = await conn.fetchrow("select hourly_rate from customer where id = $1 for update", customer_id)
    return None if row is None else CurrentRate(row[0])


async def set_rate(conn: Conn, customer_id: int, rate: Decimal | None) -> bool:
    """False when there is no such customer."""
    status = await conn.execute("update customer set hourly_rate = $2, updated_at = now() where id = $1",
                                customer_id, rate)
    return not status.endswith(" 0")


async def customer_rates(conn: Conn) -> list[CustomerRate]:
    """Customers with time entries or their own rate, by name."""
    rows = await conn.fetch(
        "select c.id, c.name, c.hourly_rate, c.economic_customer_number, "
        "count(e.id) filter (where e.status = 'pending'), "
        "count(e.id) filter (where e.status = 'approved' and e.order_id is null) "
        "from customer c left join time_entry e on e.customer_id = c.id "
        "group by c.id having count(e.id) > 0 or c.hourly_rate is not null order by c.name"
    )
    return [CustomerRate(*row) for row in rows]
