"""Orders from a customer's approved time: generating one, reading one, and the list of all."""

from __future__ import annotations

from datetime import UTC, datetime

from hubtui.config import Settings
from hubtui.core.billing import build_order_lines, effective_rate, next_order_number, order_total
from hubtui.core.draft_order import new_export_key
from hubtui.store import orders as order_store
from hubtui.store import time_entries
from hubtui.store.audit import AuditRecord, record
from hubtui.store.db import Database
from hubtui.store.orders import Order, OrderSummary, ReadyCustomer


class OrderRefused(Exception):
    """An order that cannot be made or exported as asked; the message says what to do."""


class Orders:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def generate_order(self, customer_id: int) -> int:
        """An order from the customer's approved entries that are on no order yet; returns its id."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            customer = await order_store.lock_customer(conn, customer_id)
            if customer is None:
                raise OrderRefused(f"customer {customer_id} does not exist")
            entries = await time_entries.lock_unordered_approved(conn, customer_id)
            if not entries:
                raise OrderRefused(f"{customer.name} has no approved time entries that are not on an order")
            rate = effective_rate(customer.hourly_rate, self.settings.timetracking_default_rate)
            lines = build_order_lines(entries, rate)
            year = datetime.now(UTC).year
            # The advisory lock makes order numbers unique and gap-free under concurrent generation.
            await order_store.lock_numbering(conn)
            number = next_order_number(await order_store.numbers_of_year(conn, year), year)
            order_id = await order_store.insert_order(conn, number, customer_id, self.settings.timetracking_currency,
                                                      order_total(lines), new_export_key(), lines)
            await time_entries.put_on_order(conn, order_id, [entry.id for entry in entries])
            await record(conn, AuditRecord(
                event_type="order_generated", entity_type="order", entity_id=str(order_id),
                customer_id=customer_id, system="hub", outcome="written",
                after={"order_number": number, "lines": len(lines), "total": order_total(lines)},
            ))
        return order_id

    async def order(self, order_id: int) -> Order | None:
        return await order_store.get_order(self.db.pool, order_id)

    async def orders(self) -> list[OrderSummary]:
        """Every order, newest first."""
        return await order_store.list_orders(self.db.pool)

    async def ready_customers(self) -> list[ReadyCustomer]:
        """Customers with approved time on no order (what generate_order can bill), by name."""
        return await order_store.customers_ready_for_order(self.db.pool)
