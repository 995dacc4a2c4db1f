"""The customer list: every customer with its discrepancy count, and when the counts were last checked.

Light on purpose: the list is the first screen, so this pulls in neither the connectors nor the comparison.
"""

from __future__ import annotations

from datetime import datetime

from hubtui.core.customer_index import CustomerIndex
from hubtui.store.customer_list import load_customer_index
from hubtui.store.customers import last_checked
from hubtui.store.db import Database


class CustomerListService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def index(self, first: int | None = None) -> CustomerIndex:
        """All customers in name order, or only the `first` few (what the list shows while the rest loads)."""
        return await load_customer_index(self.db.pool, first)

    async def last_checked(self) -> datetime | None:
        """When the consistency check last stored a count; None if it never did."""
        return await last_checked(self.db.pool)
