"""The one door between the terminal UI and everything behind it.

Each service is imported when first asked for, so the customer list (the first screen) starts without the
connectors, the audit log or the time-tracking code.

The CLI builds one `HubServices` per session (settings, the hub database, and — on first use — the vTiger and
e-conomic clients) and hands it to the app; screens call its services and never build a service, a client or
a query themselves. The connectors are created lazily: the customer list, the first screen, needs neither.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from hubtui.config import Settings
from hubtui.services.customer_list import CustomerListService
from hubtui.services.safety import SafetyModes
from hubtui.store.db import Database

if TYPE_CHECKING:
    from hubtui.connectors.economic import EconomicClient
    from hubtui.connectors.vtiger import VtigerClient
    from hubtui.services.approval_queue import ApprovalQueue
    from hubtui.services.audit import AuditEntry
    from hubtui.services.consistency import ConsistencyService, FleetCheck
    from hubtui.services.order_export import OrderExport
    from hubtui.services.orders import Orders
    from hubtui.services.rates import HourlyRates
    from hubtui.services.systems import SystemStatus


class HubServices:
    """Every use case a screen may ask for, built once per session."""

    def __init__(self, settings: Settings, db: Database, *, demo: bool = False) -> None:
        self.settings = settings
        self.db = db
        self.demo = demo
        self.fleet_checked = False  # the start-up check runs once per session, not on every reload

    @cached_property
    def safety(self) -> SafetyModes:
        return SafetyModes.of(self.settings)

    # The remote systems, created on first use.

    @cached_property
    def _vtiger(self) -> VtigerClient:
        from hubtui.connectors.vtiger import VtigerClient

        return VtigerClient(self.settings)

    @cached_property
    def _economic(self) -> EconomicClient:
        from hubtui.connectors.economic import EconomicClient

        return EconomicClient(self.settings)

    async def aclose(self) -> None:
        for name in ("_vtiger", "_economic"):
            if name in self.__dict__:
                await self.__dict__[name].aclose()

    @cached_property
    def customer_list(self) -> CustomerListService:
        return CustomerListService(self.db)

    # Consistency: the diff, write-back, undo and the fleet check.

    @cached_property
    def consistency(self) -> ConsistencyService:
        from hubtui.services.consistency import ConsistencyService

        return ConsistencyService(self.db, self.settings, self._vtiger, self._economic)

    async def check_fleet(self, progress: Callable[[str, int, int | None], None] | None = None) -> FleetCheck:
        from hubtui.services.consistency import check_fleet

        return await check_fleet(self.consistency, progress)

    # The audit log.

    async def audit_events(self, *, customer_id: int | None = None, system: str | None = None,
                           outcome: str | None = None, text: str | None = None,
                           limit: int = 500) -> list[AuditEntry]:
        from hubtui.store.audit import recent_events

        return await recent_events(self.db.pool, customer_id=customer_id, system=system, outcome=outcome, text=text,
                                   limit=limit)

    async def audit_event(self, event_id: int) -> AuditEntry | None:
        from hubtui.store.audit import get_event

        return await get_event(self.db.pool, event_id)

    async def why_not_undoable(self, event: AuditEntry) -> str | None:
        """Why `event` cannot be undone, or None when it can."""
        from hubtui.services.audit import undo_refusal

        return await undo_refusal(self.db, event)

    # Time: the approval queue, rates, orders and their export.

    @cached_property
    def approval_queue(self) -> ApprovalQueue:
        from hubtui.services.approval_queue import ApprovalQueue

        return ApprovalQueue(self.db, self.settings)

    @cached_property
    def rates(self) -> HourlyRates:
        from hubtui.services.rates import HourlyRates

        return HourlyRates(self.db)

    @cached_property
    def orders(self) -> Orders:
        from hubtui.services.orders import Orders

        return Orders(self.db, self.settings)

    @cached_property
    def order_export(self) -> OrderExport:
        from hubtui.services.order_export import OrderExport

        return OrderExport(self.db, self.settings, self._economic)

    # The systems.

    async def system_statuses(self) -> list[SystemStatus]:
        from hubtui.services.systems import all_statuses

        return await all_statuses(self.db, self._vtiger, self._economic)
