"""An order's export to e-conomic as a draft order: exactly once, whatever is lost on the way.

Money is involved — a second draft is double billing — so every step is recorded before it is taken and
nothing is guessed:

* Each order carries its own random `Idempotency-Key` (made when the order is made, unique across hub
  databases). The first POST records when the key was first sent; within e-conomic's one-hour replay window
  every retry resends it, and e-conomic answers a repeat with the first draft.
* After the window the key is worthless, so the draft is first looked up by `references.other` (the order
  number; e-conomic marks it filterable on drafts). A look-up that fails — whatever its status — never
  leads to a POST: the order becomes "unknown" and names what to check. A person then either attaches the
  draft they found (`attach`) or declares that none exists (`export(..., none_exists=True)`), both audited.
* An answer whose fate is unclear (timeout, 5xx, reset, malformed body) is settled by looking the draft up,
  never by guessing; every answer is compared with what was sent (customer, reference, lines, total) and a
  draft that is not this order's is never taken for it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

from hubtui.config import Settings
from hubtui.connectors.base import ConnectorError, MalformedResponse, WriteBlocked
from hubtui.connectors.economic import EconomicClient
from hubtui.core.draft_order import NotExportable, draft_order_payload, new_export_key
from hubtui.store import orders as order_store
from hubtui.store import time_entries
from hubtui.store.audit import AuditRecord, record
from hubtui.store.db import Database
from hubtui.store.orders import Order

log = logging.getLogger(__name__)

DANISH_TIME = ZoneInfo("Europe/Copenhagen")
# e-conomic replays a key for one hour from its first answer; ten minutes less covers clock skew and the time
# a slow POST takes, so a key is never trusted past the point e-conomic may have forgotten it.
KEY_WINDOW = timedelta(minutes=50)

Outcome = Literal["exported", "dry_run", "blocked", "refused", "failed", "unknown"]


@dataclass
class ExportResult:
    """Shaped like the seed's export reply, plus `outcome` for the screen."""

    success: bool
    outcome: Outcome
    dry_run: bool
    order_id: int
    economic_draft_id: int | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        # The seed's keys; the outcome (e.g. "unknown", which needs a person) goes with the details.
        return {"success": self.success, "dry_run": self.dry_run, "order_id": self.order_id,
                "economic_draft_id": self.economic_draft_id, "message": self.message,
                "details": {**self.details, "outcome": self.outcome}}


class _Unsettled(Exception):
    """The export's fate cannot be settled automatically; `problem` says what the person has to check."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class OrderExport:
    """The e-conomic draft-order export behind TIMETRACKING_ECONOMIC_READ_ONLY / _DRY_RUN."""

    def __init__(self, db: Database, settings: Settings, economic: EconomicClient) -> None:
        self.db = db
        self.settings = settings
        self.economic = economic

    async def export(self, order_id: int, *, none_exists: bool = False) -> ExportResult:
        """Export the order; `none_exists` is the person's word, after looking in e-conomic, that no draft
        for this order exists there (only for an order whose export is "unknown")."""
        settings = self.settings
        order = await order_store.get_order(self.db.pool, order_id)
        if order is None:
            return _result(order_id, "refused", f"order {order_id} does not exist")
        details: dict[str, Any] = {
            "order_number": order.number, "customer_name": order.customer_name,
            "total_amount": str(order.total_amount), "line_count": len(order.lines),
            "read_only": settings.timetracking_economic_read_only, "dry_run": settings.timetracking_economic_dry_run,
        }
        if order.status == "exported":
            return _result(order_id, "refused", already_exported(order), draft=order.economic_draft_number,
                           details=details)
        if none_exists and order.status != "unknown":
            return _result(order_id, "refused", f"order {order.number} is not in doubt: export it as usual",
                           details=details)
        if settings.timetracking_export_type != "draft":
            return await self._finish(order, "refused", "export_blocked",
                                      f"TIMETRACKING_EXPORT_TYPE={settings.timetracking_export_type} is not supported: "
                                      "hubtui only creates draft orders; set TIMETRACKING_EXPORT_TYPE=draft", details)
        if order.economic_customer_number is None:
            return await self._finish(order, "failed", "export_failed",
                                      f"{order.customer_name} has no e-conomic customer number: sync customers from "
                                      f"vTiger (`hubtui sync customers`); the number comes from "
                                      f"{settings.vtiger_economic_number_field}", details)
        if settings.timetracking_economic_read_only:
            log.warning("BLOCKED: export order %s to e-conomic - READ_ONLY mode enabled", order.number)
            return await self._finish(order, "blocked", "export_blocked",
                                      "BLOCKED: TIMETRACKING_ECONOMIC_READ_ONLY=true blocks all writes to e-conomic; "
                                      "set TIMETRACKING_ECONOMIC_READ_ONLY=false to export", details)
        try:
            customer = await self.economic.get_customer(order.economic_customer_number)
            # The draft is dated as the support person sees the calendar, in Denmark.
            payload = draft_order_payload(order.number, datetime.now(DANISH_TIME).date(), customer,
                                          order.lines, settings)
        except ConnectorError as error:
            return await self._failed(order, error, details, "the order stays exportable; fix the cause and "
                                      "export again")
        except NotExportable as error:
            return await self._finish(order, "failed", "export_failed",
                                      f"{error.message} — the order stays exportable", details)
        details["payload"] = payload
        if settings.timetracking_economic_dry_run:
            log.info("DRY-RUN: would export order %s to e-conomic: %s", order.number,
                     json.dumps(payload, ensure_ascii=False))
            return await self._finish(order, "dry_run", "export_dry_run",
                                      f"DRY-RUN: would export order {order.number} to e-conomic", details)
        if none_exists:
            order = await self._declare_none_exists(order)
        return await self._export_live(order, payload, details)

    async def _export_live(self, order: Order, payload: dict[str, Any], details: dict[str, Any]) -> ExportResult:
        key, first_sent = order.idempotency_key, order.key_first_sent_at
        try:
            if first_sent is not None and datetime.now(UTC) - first_sent >= KEY_WINDOW:
                # e-conomic may have forgotten the key: a draft the earlier attempt made is found only by its
                # reference. Failing to look is not "none found".
                found = await self._look_up(order, payload, "")
                if found is not None:
                    details["found_by_reference"] = True
                    return await self._exported(order, found, details, "found in e-conomic by reference")
                # None exists: the stale key is as good as a new one, but a new one rules out a late replay.
                key, first_sent = await self._new_key(order), None
            if first_sent is None:
                # Recorded BEFORE the POST: a process killed after e-conomic answered finds the key next time.
                await order_store.mark_key_sent(self.db.pool, order.id)
            await self._audit(order, "export_started", "started", None, message=f"POST /orders/drafts, key sent "
                              f"{'again' if first_sent is not None else 'for the first time'}")
            log.warning("EXECUTING WRITE OPERATION: export order %s to e-conomic", order.number)
            return await self._post(order, key, payload, details)
        except _Unsettled as doubt:
            return await self._unknown(order, doubt.problem, details)

    async def _post(self, order: Order, key: str, payload: dict[str, Any],
                    details: dict[str, Any]) -> ExportResult:
        try:
            result = await self.economic.create_draft_order(payload, key)
        except WriteBlocked as error:  # the connector's own gate agrees with ours; kept for safety
            return await self._finish(order, "blocked", "export_blocked", str(error), details)
        except ConnectorError as error:
            if _refused(error):
                # e-conomic refused it (and would replay that refusal for this key): nothing was created, so the
                # next attempt is a new request with a new key.
                await self._new_key(order)
                return await self._failed(order, error, details, "e-conomic created nothing; fix the cause and "
                                          "export again")
            # Sent, answer lost: whether the draft exists is settled by looking, never assumed.
            log.warning("export of %s: %s; looking the draft up to settle it", order.number, error)
            details["post_error"] = str(error)
            found = await self._look_up(order, payload, f"the answer to the export was lost ({error})")
            if found is not None:
                return await self._exported(order, found, details, "confirmed by re-read")
            return await self._failed(order, error, details,
                                      "no draft with this reference exists in e-conomic, so nothing was created; "
                                      "export again (within the hour the same key is resent, so this cannot make "
                                      "a second draft)")
        draft = result.response if isinstance(result.response, dict) else {}
        details["replayed"] = result.replayed
        mismatch = draft_mismatch(draft, payload)
        if mismatch is not None:
            raise _Unsettled(
                f"e-conomic answered the export of {order.number} with draft {draft.get('orderNumber')}, which is "
                f"not this order ({mismatch}){' — a replayed answer' if result.replayed else ''}. Check e-conomic's "
                f"draft orders for reference {order.number}")
        return await self._exported(order, draft, details, "replayed by e-conomic" if result.replayed else "")

    async def _look_up(self, order: Order, payload: dict[str, Any], lost: str) -> dict[str, Any] | None:
        """This order's draft in e-conomic, or None when e-conomic says there is none. Raises `_Unsettled` when
        the look-up fails or finds drafts for this reference that are not plainly this order."""
        number = order.number
        try:
            drafts = await self.economic.find_drafts_by_reference(number)
        except ConnectorError as error:
            log.warning("export of %s: looking the draft up failed: %s", number, error)
            raise _Unsettled(f"{lost + ', and ' if lost else ''}e-conomic did not say whether it already has a draft "
                             f"for {number} ({error}). Check e-conomic's draft orders for reference {number}") from None
        customer = payload["customer"]["customerNumber"]
        # Another hub database numbers its orders the same way: its drafts are for other customers.
        ours = [d for d in drafts if (d.get("customer") or {}).get("customerNumber") == customer]
        exact = [d for d in ours if draft_mismatch(d, payload) is None]
        if len(ours) == 1 and len(exact) == 1:
            return exact[0]
        if not ours:
            return None
        listed = ", ".join(str(d.get("orderNumber")) for d in ours)
        raise _Unsettled(f"e-conomic has draft(s) {listed} for reference {number} and this customer, but not exactly "
                         f"one that matches this order's lines and total (edited in e-conomic?). Check them")

    async def attach(self, order_id: int, draft_number: int) -> ExportResult:
        """Record that e-conomic draft `draft_number` is this order's, after a person found it there."""
        order = await order_store.get_order(self.db.pool, order_id)
        if order is None:
            return _result(order_id, "refused", f"order {order_id} does not exist")
        if order.status == "exported":
            return _result(order_id, "refused", already_exported(order), draft=order.economic_draft_number)
        if order.key_first_sent_at is None and order.status != "unknown":
            return _result(order_id, "refused", f"order {order.number} was never sent to e-conomic: "
                           "there is no draft to attach; export it")
        details: dict[str, Any] = {"order_number": order.number, "attached_by_person": True}
        try:
            draft = await self.economic.get_draft(draft_number)
        except ConnectorError as error:
            return _result(order_id, "failed", f"cannot read e-conomic draft {draft_number}: {error}; nothing "
                           "was changed", details=details)
        other = (draft.get("references") or {}).get("other")
        customer = (draft.get("customer") or {}).get("customerNumber")
        if other != order.number or customer != order.economic_customer_number:
            return _result(order_id, "refused",
                           f"e-conomic draft {draft_number} is for customer {customer} with reference {other!r}, "
                           f"not {order.number} of customer {order.economic_customer_number}: not attached",
                           details=details)
        return await self._exported(order, draft, details, "attached by a person after checking e-conomic")

    async def _declare_none_exists(self, order: Order) -> Order:
        await self._audit(order, "export_none_declared", "declared", None,
                          message=f"a person checked e-conomic and found no draft for {order.number}; "
                                  "exporting again with a new key")
        await self._new_key(order)
        refreshed = await order_store.get_order(self.db.pool, order.id)
        assert refreshed is not None
        return refreshed

    async def _new_key(self, order: Order) -> str:
        """A fresh key, not yet sent; the order is exportable as if new (the old key's answer is settled)."""
        key = new_export_key()
        await order_store.replace_key(self.db.pool, order.id, key)
        return key

    async def _exported(self, order: Order, draft: dict[str, Any], details: dict[str, Any],
                        how: str) -> ExportResult:
        number = draft.get("orderNumber")
        if not isinstance(number, int) or isinstance(number, bool):
            return await self._unknown(order, "e-conomic answered without a draft number. Check e-conomic's draft "
                                       f"orders for reference {order.number}", details)
        async with self.db.pool.acquire() as conn, conn.transaction():
            await order_store.mark_exported(conn, order.id, number)
            await time_entries.mark_billed(conn, order.id)
        details["economic_draft_id"] = number
        suffix = f" ({how})" if how else ""
        return await self._finish(order, "exported", "export_completed",
                                  f"Exported to e-conomic draft {number}{suffix}", details, draft=number)

    async def _unknown(self, order: Order, problem: str, details: dict[str, Any]) -> ExportResult:
        number = order.number
        message = (f"UNKNOWN whether {number} is in e-conomic: {problem}. Then either attach the draft you found "
                   f"(`hubtui orders attach {order.id} --draft N`, or `t` on the order) or, if none exists, "
                   f"export again with `hubtui orders export {order.id} --none-exists` (`n` on the order). "
                   "Nothing more is sent until then")
        await order_store.mark_unknown(self.db.pool, order.id, problem)
        details["problem"] = problem
        log.error("export of %s: %s", number, problem)
        return await self._finish(order, "unknown", "export_unknown", message, details)

    async def _failed(self, order: Order, error: ConnectorError, details: dict[str, Any],
                      what_now: str) -> ExportResult:
        details["errors"] = [f"{name}: {text}" if name else text for name, text in error.field_errors]
        details["log_id"] = error.log_id
        return await self._finish(order, "failed", "export_failed", f"{error} — {what_now}", details,
                                  log_id=error.log_id)

    async def _finish(self, order: Order, outcome: Outcome, event: str, message: str, details: dict[str, Any], *,
                      draft: int | None = None, log_id: str | None = None) -> ExportResult:
        await self._audit(order, event, outcome, draft, message=message, log_id=log_id,
                          payload=details.get("payload") if outcome == "dry_run" else None)
        return _result(order.id, outcome, message, draft=draft, details=details)

    async def _audit(self, order: Order, event: str, outcome: str, draft: int | None, *,
                     message: str | None = None, log_id: str | None = None,
                     payload: dict[str, Any] | None = None) -> None:
        await record(self.db.pool, AuditRecord(
            event_type=event, entity_type="order", entity_id=str(order.id),
            customer_id=order.customer_id, system="economic", outcome=outcome,
            after={"order_number": order.number, "economic_draft_id": draft,
                   **({"payload": payload} if payload is not None else {})},
            message=message, remote_log_id=log_id, dry_run=outcome == "dry_run",
        ))


def already_exported(order: Order) -> str:
    return f"order {order.number} was already exported as e-conomic draft {order.economic_draft_number}"


def draft_mismatch(draft: dict[str, Any], payload: dict[str, Any]) -> str | None:
    """Why an e-conomic draft is not the one `payload` describes (customer, reference, lines, total), or None."""
    problems: list[str] = []
    customer = (draft.get("customer") or {}).get("customerNumber")
    if customer != payload["customer"]["customerNumber"]:
        problems.append(f"customer {customer}, not {payload['customer']['customerNumber']}")
    other = (draft.get("references") or {}).get("other")
    if other != payload["references"]["other"]:
        problems.append(f"reference {other!r}, not {payload['references']['other']!r}")
    lines = draft.get("lines") or []
    if len(lines) != len(payload["lines"]):
        problems.append(f"{len(lines)} lines, not {len(payload['lines'])}")
    sent_total = _net_total(payload["lines"])
    answered = draft.get("netAmount")
    total = _money(answered) if answered is not None else _net_total(lines)
    if total != sent_total:
        problems.append(f"total {total}, not {sent_total}")
    return "; ".join(problems) or None


def _net_total(lines: list[dict[str, Any]]) -> Decimal | None:
    total = Decimal(0)
    for line in lines:
        quantity, price = _money(line.get("quantity", 0)), _money(line.get("unitNetPrice", 0))
        discount = _money(line.get("discountPercentage", 0))
        if quantity is None or price is None or discount is None:
            return None
        total += (quantity * price * (1 - discount / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return total


def _money(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None


def _refused(error: ConnectorError) -> bool:
    """A definite "no" to the POST: e-conomic looked at it and created nothing (not a lost or garbled answer)."""
    if isinstance(error, MalformedResponse):
        return False
    return error.status is not None and 400 <= error.status < 500 and error.status not in (408, 409, 429)


def _result(order_id: int, outcome: Outcome, message: str, *, draft: int | None = None,
            details: dict[str, Any] | None = None) -> ExportResult:
    return ExportResult(success=outcome in ("exported", "dry_run"), outcome=outcome, dry_run=outcome == "dry_run",
                        order_id=order_id, economic_draft_id=draft, message=message, details=details or {})

