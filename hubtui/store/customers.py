"""Reading and writing single hub customers through SQLModel."""

from __future__ import annotations

from hubtui.store.db import Database
from hubtui.store.models import Customer


async def get_customer(db: Database, customer_id: int) -> Customer | None:
    async with db.session() as session:
        return await session.get(Customer, customer_id)
