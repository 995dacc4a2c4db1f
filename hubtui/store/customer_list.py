"""Bulk customer reads and writes on the raw driver: the list index (100k rows) and COPY-based loading.

These skip SQLAlchemy on purpose: its per-row processing would cost more than the query itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from hubtui.core.customer_index import TEXT_COLUMNS, CustomerIndex
from hubtui.store.customers import NEW_CUSTOMER_COLUMNS, NewCustomer

Conn = asyncpg.Connection | asyncpg.Pool


def _index_query() -> str:
    # Postgres builds each display line, so Python receives one string per customer instead of five.
    cells = ", ".join(
        f"translate(coalesce({column.value}::text, ''), E'\\x1f', ' ')" for column in TEXT_COLUMNS
    )
    return (
        f"select id, discrepancy_count, concat_ws(E'\\x1f', {cells}) from customer "
        "order by lower(name), id"
    )


_INDEX_QUERY = _index_query()

ALL_TABLES = "customer, remote_snapshot, time_entry, billing_order, order_line, audit_event, sync_state"


async def load_customer_index(conn: Conn, first: int | None = None) -> CustomerIndex:
    """All customers in name order, or only the `first` few (what the list shows while the rest loads)."""
    query = _INDEX_QUERY if first is None else f"{_INDEX_QUERY} limit {int(first)}"
    records = await conn.fetch(query)
    return CustomerIndex((record[0], record[1], record[2]) for record in records)


async def replace_everything(conn: asyncpg.Connection, customers: Sequence[NewCustomer]) -> None:
    """Empty every hub table and load `customers` with COPY (100k rows in about a second); ids restart at 1
    in the given order."""
    async with conn.transaction():
        await conn.execute(f"truncate {ALL_TABLES} restart identity cascade")
        await conn.copy_records_to_table(
            "customer",
            records=[tuple(getattr(c, column) for column in NEW_CUSTOMER_COLUMNS) for c in customers],
            columns=NEW_CUSTOMER_COLUMNS,
        )
