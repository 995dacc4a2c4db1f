"""Orders made from approved time: their numbers, lines, and the steps of their export to e-conomic.

Each function takes the connection (or pool) to run on, so a service can put several in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from hubtui.core.billing import OrderLineDraft

Conn = asyncpg.Connection | asyncpg.Pool

# pg_advisory_xact_lock key that serialises order numbering across processes.
ORDER_NUMBER_LOCK = 7420002


@dataclass(frozen=True, slots=True)
class OrderCustomer:
    id: int
    name: str
    hourly_rate: Decimal | None


@dataclass(frozen=True, slots=True)
class Order:
    """An order with its customer's name and e-conomic number, and its lines in order."""

    id: int
    number: str
    customer_id: int
    customer_name: str
    economic_customer_number: int | None
    status: str  # open | exported | unknown (a draft may exist: see export_problem) | cancelled
    currency: str
    total_amount: Decimal
    idempotency_key: str
    export_started_at: datetime | None
    key_first_sent_at: datetime | None
    export_problem: str | None
    economic_draft_number: int | None
    exported_at: datetime | None
    created_at: datetime
    lines: tuple[OrderLineDraft, ...]


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """One order as the orders list shows it."""

    id: int
    number: str
    status: str
    total_amount: Decimal
    currency: str
    economic_draft_number: int | None
    created_at: datetime
    exported_at: datetime | None
    customer_name: str
    line_count: int


@dataclass(frozen=True, slots=True)
class ReadyCustomer:
    """A customer with approved time on no order yet: what a new order of theirs would bill."""

    id: int
    name: str
    entries: int  # approved and on no order
    hours: Decimal
    pending: int  # still to decide: an order now leaves them for a later one


async def customers_ready_for_order(conn: Conn) -> list[ReadyCustomer]:
    """Customers with approved time to bill on no order, by name (entries approved at 0 h stay off orders)."""
    ready = "e.status = 'approved' and e.order_id is null and e.billable_hours > 0"
    rows = await conn.fetch(
        f"select c.id, c.name, count(*) filter (where {ready}), "
        f"coalesce(sum(e.billable_hours) filter (where {ready}), 0), count(*) filter (where e.status = 'pending') "
        f"from customer c join time_entry e on e.customer_id = c.id "
        f"group by c.id having count(*) filter (where {ready}) > 0 order by c.name, c.id"
    )
    return [ReadyCustomer(*row) for row in rows]


async def lock_customer(conn: asyncpg.Connection, customer_id: int) -> OrderCustomer | None:
    """The customer to bill, locked for the caller's transaction (one order at a time per customer)."""
    row = await conn.fetchrow("select id, name, hourly_rate from customer where id = $1 for update", customer_id)
    return None if row is None else OrderCustomer(*row)


async def lock_numbering(conn: asyncpg.Connection) -> None:
    """Hold the numbering lock until the caller's transaction ends, so numbers are unique and gap-free."""
    await conn.execute("select pg_advisory_xact_lock($1)", ORDER_NUMBER_LOCK)


async def numbers_of_year(conn: Conn, year: int) -> list[str]:
    rows = await conn.fetch("select order_number from billing_order where order_number like $1", f"ORD-{year}-%")
    return [row[0] for row in rows]


async def insert_order(conn: Conn, number: str, customer_id: int, currency: str, total: Decimal,
                       idempotency_key: str, lines: Sequence[OrderLineDraft]) -> int:
    """A new open order with its lines; returns its id."""
    order_id: int = await conn.fetchval(
        "insert into billing_order (order_number, customer_id, status, currency, total_amount, idempotency_key) "
        "values ($1, $2, 'open', $3, $4, $5) returning id",
        number, customer_id, currency, total, idempotency_key,
    )
    await conn.executemany(
        "insert into order_line (order_id, time_entry_id, line_number, description, quantity, unit_price, amount) "
        "values ($1, $2, $3, $4, $5, $6, $7)",
        [(order_id, line.time_entry_id, line.line_number, line.description, line.quantity, line.unit_price,
          line.amount) for line in lines],
    )
    return order_id


async def get_order(conn: Conn, order_id: int) -> Order | None:
    row = await conn.fetchrow(
        "select o.id, o.order_number, o.customer_id, c.name, c.economic_customer_number, o.status, o.currency, "
        "o.total_amount, o.idempotency_key, o.export_started_at, o.key_first_sent_at, o.export_problem, "
        "o.economic_draft_number, o.exported_at, o.created_at "
        "from billing_order o join customer c on c.id = o.customer_id where o.id = $1", order_id,
    )
    if row is None:
        return None
    lines = await conn.fetch(
        "select line_number, description, quantity, unit_price, amount, time_entry_id from order_line "
        "where order_id = $1 order by line_number", order_id,
    )
    return Order(*row, lines=tuple(OrderLineDraft(*line) for line in lines))


async def list_orders(conn: Conn) -> list[OrderSummary]:
    """Every order, newest first."""
    rows = await conn.fetch(
        "select o.id, o.order_number, o.status, o.total_amount, o.currency, o.economic_draft_number, "
        "o.created_at, o.exported_at, c.name, (select count(*) from order_line l where l.order_id = o.id) "
        "from billing_order o join customer c on c.id = o.customer_id order by o.created_at desc, o.id desc"
    )
    return [OrderSummary(*row) for row in rows]


async def mark_key_sent(conn: Conn, order_id: int) -> None:
    """Written before the POST: the key is now out, and may have reached e-conomic."""
    await conn.execute(
        "update billing_order set key_first_sent_at = now(), export_started_at = coalesce(export_started_at, now()) "
        "where id = $1", order_id,
    )


async def replace_key(conn: Conn, order_id: int, idempotency_key: str) -> None:
    """A fresh key, not yet sent; an "unknown" order becomes open again (the old key's answer is settled)."""
    await conn.execute(
        "update billing_order set idempotency_key = $2, key_first_sent_at = null, export_problem = null, "
        "status = case when status = 'unknown' then 'open' else status end where id = $1",
        order_id, idempotency_key,
    )


async def mark_exported(conn: Conn, order_id: int, draft_number: int) -> None:
    await conn.execute(
        "update billing_order set status = 'exported', economic_draft_number = $2, exported_at = now(), "
        "export_problem = null where id = $1", order_id, draft_number,
    )


async def mark_unknown(conn: Conn, order_id: int, problem: str) -> None:
    await conn.execute("update billing_order set status = 'unknown', export_problem = $2 where id = $1",
                       order_id, problem)
