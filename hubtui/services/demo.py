"""The demo: its own data directory and database, seeded with deterministic Danish customers."""

from __future__ import annotations

from collections.abc import Sequence

from hubtui.config import Settings
from hubtui.sandbox.demo_data import DemoCompany, demo_companies
from hubtui.store.customer_list import replace_everything
from hubtui.store.customers import NewCustomer, count_customers
from hubtui.store.db import Database
from hubtui.store.imports import any_time_entries

DEFAULT_DEMO_CUSTOMERS = 200


def pointed_at_sandbox(settings: Settings, sandbox_env: dict[str, str]) -> Settings:
    """The same settings with the remote systems replaced by the sandboxes (validated like any setting)."""
    values = settings.model_dump()
    values.update({name.lower(): value for name, value in sandbox_env.items()})
    return Settings.model_validate(values)


def demo_settings(settings: Settings) -> Settings:
    """The same settings pointed at the demo data directory; DATABASE_URL is dropped so a real database
    is never touched by the demo."""
    return settings.model_copy(
        update={"hubtui_data_dir": settings.hubtui_data_dir / "demo", "database_url": None}
    )


async def replace_all_customers(db: Database, companies: Sequence[DemoCompany]) -> None:
    """Empty the hub and make `companies` its customers: company i becomes hub customer i + 1."""
    customers = [
        NewCustomer(name=c.name, cvr_number=c.cvr_number, address=c.address, city=c.city,
                    postal_code=c.postal_code, country=c.country, phone=c.phone, mobile_phone=c.mobile_phone,
                    email=c.email, website=c.website, invoice_email=c.invoice_email, vtiger_id=c.vtiger_id,
                    economic_customer_number=c.economic_customer_number, hourly_rate=c.hourly_rate)
        for c in companies
    ]
    async with db.pool.acquire() as conn:
        await replace_everything(conn, customers)


async def seed_demo(db: Database, customers: int | None = None, reset: bool = False) -> int:
    """Seed the demo hub when it is empty, or when asked to reset; return the number of customers."""
    existing = await count_customers(db.pool)
    if existing and not reset and customers in (None, existing):
        return existing
    count = customers or DEFAULT_DEMO_CUSTOMERS
    await replace_all_customers(db, demo_companies(count))
    return count


async def seed_demo_time(db: Database, settings: Settings) -> int:
    """Give a fresh demo hub the sandbox's pending time entries, so the wizard has work; 0 if it has some."""
    if await any_time_entries(db.pool):
        return 0
    from hubtui.connectors.vtiger import VtigerClient
    from hubtui.services.importing import import_timelogs

    async with VtigerClient(settings) as vtiger:
        summary = await import_timelogs(db, settings, vtiger, full=True)
    return summary.created
