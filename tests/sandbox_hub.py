"""A hub seeded with `demo_companies(N)` and settings pointed at sandboxes built from the same companies,
so the three systems differ only where `hubtui.sandbox.remote_data` plants differences."""

from __future__ import annotations

from hubtui.config import Settings
from hubtui.sandbox.demo_data import DemoCompany, demo_companies
from hubtui.sandbox.server import RunningSandbox
from hubtui.services.demo import pointed_at_sandbox, replace_all_customers
from hubtui.store.db import Database

N = 40
COMPANIES = demo_companies(N)
LIVE = {"economic_read_only": False, "economic_dry_run": False}


async def seeded(db: Database, settings: Settings, sandbox: RunningSandbox,
                 companies: list[DemoCompany] = COMPANIES, **changes: object) -> Settings:
    """Seed the hub; the settings pointed at the sandbox (no fleet check at start unless asked)."""
    await replace_all_customers(db, companies)
    updates = {"auto_check_consistency": False, **changes}
    return pointed_at_sandbox(settings, sandbox.env()).model_copy(update=updates)
