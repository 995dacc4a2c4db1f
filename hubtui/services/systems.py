"""The state of every system hubtui talks to, for the Systems screen."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hubtui.connectors.base import ConnectorError
from hubtui.connectors.economic import EconomicClient
from hubtui.connectors.vtiger import VtigerClient
from hubtui.store.db import Database
from hubtui.store.status import hub_facts


@dataclass
class SystemStatus:
    system: str  # "hub" | "vtiger" | "economic"
    connected: bool
    who: str = ""  # user, agreement and company, or the database
    budget: str = ""  # what is left of the rate limit
    error: str = ""


def _vtiger_budget(reply: dict[str, Any]) -> str:
    limits = reply.get("rate_limit") or {}
    parts = []
    if limits.get("minute_remaining") is not None:
        parts.append(f"{limits['minute_remaining']}/{limits.get('minute_limit')} this minute")
    if limits.get("daily_remaining") is not None:
        parts.append(f"{limits['daily_remaining']}/{limits.get('daily_limit')} today")
    return ", ".join(parts) or "no rate-limit headers seen"


async def hub_status(db: Database) -> SystemStatus:
    try:
        facts = await hub_facts(db.pool)
    except Exception as error:  # any database failure is shown, not raised
        return SystemStatus("hub", False, error=str(error))
    return SystemStatus("hub", True, who=f"PostgreSQL {facts.server_version}, {facts.customers:,} customers")


async def vtiger_status(client: VtigerClient) -> SystemStatus:
    try:
        reply = await client.connection_test()
    except ConnectorError as error:
        return SystemStatus("vtiger", False, error=str(error))
    who = f"{reply.get('user_name') or '?'} ({reply.get('flavour')} API)"
    return SystemStatus("vtiger", True, who=who, budget=_vtiger_budget(reply))


async def economic_status(client: EconomicClient) -> SystemStatus:
    try:
        reply = await client.connection_test()
    except ConnectorError as error:
        return SystemStatus("economic", False, error=str(error))
    company = reply.get("company") or "?"
    who = f"agreement {reply.get('agreement_number')}, {company} ({reply.get('user_name')})"
    # e-conomic documents no rate-limit headers, only a fair-use quota.
    return SystemStatus("economic", True, who=who, budget="fair use: 50,000 calls / 24 h")


async def all_statuses(db: Database, vtiger: VtigerClient, economic: EconomicClient) -> list[SystemStatus]:
    return list(await asyncio.gather(hub_status(db), vtiger_status(vtiger), economic_status(economic)))
