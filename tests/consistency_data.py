"""The hub and sandboxes of the consistency tests: 40 demo companies in all three systems (hub id = company
index + 1), the customer on which they agree, three fields to write to it, and the audit rows written."""

from __future__ import annotations

import json
from typing import Any

from hubtui.connectors.base import RetryPolicy
from hubtui.core.plan import FieldChoice, WritePlan, build_plan
from hubtui.sandbox.demo_data import DemoCompany, demo_companies
from hubtui.services.consistency import CustomerReading
from hubtui.store.db import Database

COMPANIES = 40
FAST_RETRY = RetryPolicy(wait_base=0.01, wait_max=0.02, max_retry_after=0.05)
LIVE = {"economic_read_only": False, "economic_dry_run": False}

HUB_COMPANIES = demo_companies(COMPANIES)  # the sandboxes are built from the same companies
CLEAN = 1  # index 0: nothing planted, the three systems agree

# Three changes for the clean customer, so every system gets three fields in its one write.
THREE_FIELDS = {"city": "Nyborg", "phone": "11 22 33 44", "website": "www.nyt-domæne.dk"}
VTIGER_NAMES = {"city": "bill_city", "phone": "phone", "website": "website"}
ECONOMIC_NAMES = {"city": "city", "phone": "telephoneAndFaxNumber", "website": "website"}


def company(customer_id: int) -> DemoCompany:
    return HUB_COMPANIES[customer_id - 1]


async def audit_rows(db: Database, event_type: str | None = None) -> list[dict[str, Any]]:
    rows = await db.pool.fetch(
        "select * from audit_event where $1::text is null or event_type = $1 order by id", event_type)
    return [{**row, "before": json.loads(row["before"]) if row["before"] else None,
             "after": json.loads(row["after"]) if row["after"] else None} for row in rows]


def custom_plan(reading: CustomerReading, values: dict[str, str]) -> WritePlan:
    return build_plan(reading.comparison, [FieldChoice.custom(f, v) for f, v in values.items()])
