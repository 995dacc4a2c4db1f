"""The hub's own tables. Money is numeric (Decimal), times are timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, DateTime, Index, Numeric, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(*, nullable: bool = False, default_now: bool = True) -> Any:
    return Field(
        default_factory=utcnow if default_now else None,
        sa_column_kwargs={"server_default": func.now()} if default_now else {},
        sa_type=DateTime(timezone=True),
        nullable=nullable,
    )


def _money(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=Numeric(12, 2), nullable=nullable)


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    # The list opens on its first page in name order: this index makes that an index scan.
    __table_args__ = (Index("ix_customer_sort_name", text("lower(name)"), "id"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str
    cvr_number: str | None = None
    address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    email: str | None = None
    website: str | None = None
    invoice_email: str | None = None
    vtiger_id: str | None = Field(default=None, unique=True)
    economic_customer_number: int | None = Field(default=None, unique=True)
    hourly_rate: Decimal | None = _money()
    # Filled by the consistency check; NULL means "not checked yet".
    discrepancy_count: int | None = None
    checked_at: datetime | None = _timestamp(nullable=True, default_now=False)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class RemoteSnapshot(SQLModel, table=True):
    """The last values read from a remote system, so a system that is down can still be shown greyed."""

    __tablename__ = "remote_snapshot"
    __table_args__ = (UniqueConstraint("system", "remote_id"),)

    id: int | None = Field(default=None, primary_key=True)
    system: str  # "vtiger" | "economic"
    remote_id: str
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True, ondelete="SET NULL")
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    remote_modified: str | None = None
    read_at: datetime = _timestamp()


class TimeEntry(SQLModel, table=True):
    __tablename__ = "time_entry"
    __table_args__ = (
        Index("ix_time_entry_status", "status", "customer_id"),
        Index("ix_time_entry_queue", "customer_id", "work_date", "id", postgresql_where=text("status = 'pending'")),
        Index("ix_time_entry_claimed_by", "claimed_by", postgresql_where=text("claimed_by IS NOT NULL")),
        Index("ix_time_entry_decided_at", "decided_at", postgresql_where=text("decided_at IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    remote_id: str = Field(unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    contact: str | None = None
    work_date: date
    duration_minutes: int
    billable: bool = True
    billable_hours: Decimal | None = Field(default=None, sa_type=Numeric(6, 2))
    description: str = ""
    related_case: str | None = None
    status: str = Field(default="pending", sa_column_kwargs={"server_default": text("'pending'")})
    reject_reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = _timestamp(nullable=True, default_now=False)
    order_id: int | None = Field(default=None, foreign_key="billing_order.id", index=True)
    # A lease on a pending entry while one person looks at it in the wizard; it expires by itself.
    claimed_by: str | None = None
    claimed_until: datetime | None = _timestamp(nullable=True, default_now=False)
    created_at: datetime = _timestamp()


class BillingOrder(SQLModel, table=True):
    """An order built from a customer's approved time, exported to e-conomic as a draft order."""

    __tablename__ = "billing_order"

    id: int | None = Field(default=None, primary_key=True)
    order_number: str = Field(unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    status: str = "open"  # open | exported | unknown (a draft may exist: see export_problem) | cancelled
    currency: str = "DKK"
    total_amount: Decimal = _money(nullable=False)
    idempotency_key: str = Field(unique=True)  # random per order (and per deliberate re-export)
    export_started_at: datetime | None = _timestamp(nullable=True, default_now=False)
    key_first_sent_at: datetime | None = _timestamp(nullable=True, default_now=False)
    export_problem: str | None = None
    economic_draft_number: int | None = None
    exported_at: datetime | None = _timestamp(nullable=True, default_now=False)
    created_at: datetime = _timestamp()


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="billing_order.id", index=True, ondelete="CASCADE")
    time_entry_id: int | None = Field(default=None, foreign_key="time_entry.id")
    line_number: int
    description: str
    quantity: Decimal = Field(sa_type=Numeric(8, 2))
    unit_price: Decimal = _money(nullable=False)
    amount: Decimal = _money(nullable=False)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_created", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event_type: str
    entity_type: str
    entity_id: str | None = None
    customer_id: int | None = Field(default=None, index=True)
    system: str | None = None
    outcome: str | None = None
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    message: str | None = None
    remote_log_id: str | None = None
    dry_run: bool = False
    actor: str
    created_at: datetime = _timestamp()


class SyncState(SQLModel, table=True):
    """Watermarks for incremental imports, e.g. the newest vTiger `modifiedtime` seen."""

    __tablename__ = "sync_state"

    key: str = Field(primary_key=True)
    value: str
    updated_at: datetime = _timestamp()
