"""Which audit events can be undone, and why not: the one place this rule lives.

The rows themselves are written and read by hubtui/store/audit.py, on the caller's connection, so an event
shares a transaction with the change it describes.
"""

from __future__ import annotations

from datetime import datetime

from hubtui.store import audit as store
from hubtui.store.audit import AuditEntry
from hubtui.store.db import Database

__all__ = ["FIELD_WRITES", "AuditEntry", "undo_refusal"]  # AuditEntry: the rows the audit log's readers get

FIELD_WRITES = frozenset({"field_sync", "undo"})  # the events that write customer fields, and can be undone


_NOT_WRITTEN = {
    "blocked": "it was BLOCKED (read-only)",
    "disabled": "sync to that system was disabled",
    "failed": "it FAILED",
    "changed": "the record had changed since it was read, so nothing was sent",
    "unknown": "whether it landed is not known yet; open the customer so hubtui reads it back and settles it, "
               "then try again",
}


async def undo_refusal(db: Database, event: AuditEntry) -> str | None:
    """Why `event` cannot be undone, or None when it can: only a field write that really wrote (not a dry
    run, not blocked or failed) and that no undo has undone yet. The one place this rule lives."""
    if event.event_type not in FIELD_WRITES:
        return f"event {event.id} is {event.event_type}, not a field write: only field writes can be undone"
    if event.customer_id is None or event.system is None or not event.before:
        return f"event {event.id} holds no values to write back"
    if event.dry_run or event.outcome == "dry_run":
        return "nothing was written: it was a DRY-RUN"
    if event.outcome != "written":  # a settled "unknown" is "written" (confirmed by re-read)
        return "nothing was written: " + _NOT_WRITTEN.get(event.outcome or "", f"it was {event.outcome}")
    undo = await store.first_undo(db.pool, event.customer_id, event.id)
    if undo is None:
        return None
    when = undo.created_at.astimezone()
    at = f"{when:%H:%M}" if when.date() == datetime.now(when.tzinfo).date() else f"{when:%Y-%m-%d %H:%M}"
    if undo.outcome == "unknown":
        return (f"undo event {undo.id} at {at} may already have undone it (its result is not known yet); "
                "open the customer so hubtui reads it back, then look again")
    return f"already undone by event {undo.id} at {at} ({undo.actor})"
