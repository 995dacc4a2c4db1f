"""The write gates: which settings may stop a write, checked inside the connector below any UI.

Order of the checks, and why:
1. sync disabled -> outcome ``"disabled"``: the system is switched off, so nothing is read or sent;
2. read-only -> ``WriteBlocked`` is raised before any request (the message names the flag to change);
3. dry-run -> outcome ``"dry_run"``: the connector builds the exact request and returns it unsent;
4. otherwise the write is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hubtui.config import Settings
from hubtui.connectors.base import SYSTEM_LABELS, WriteBlocked

GateDecision = Literal["disabled", "dry_run", "write"]


@dataclass(frozen=True, slots=True)
class WriteGate:
    """The flags governing one kind of write; ``None`` flag names mean "no such flag for this kind"."""

    system: str
    what: str
    enabled: bool = True
    enabled_flag: str | None = None
    read_only: bool = False
    read_only_flag: str | None = None
    dry_run: bool = False
    dry_run_flag: str | None = None

    def decide(self, method: str, path: str) -> GateDecision:
        """What to do with ``method path``; raises ``WriteBlocked`` under read-only."""
        if not self.enabled:
            return "disabled"
        if self.read_only:
            label = SYSTEM_LABELS.get(self.system, self.system)
            raise WriteBlocked(
                self.system,
                f"{self.what} blocked: {self.read_only_flag}=true forbids writing to {label} "
                f"({method} {path} was not sent; set {self.read_only_flag}=false to allow it)",
                flag=self.read_only_flag or "",
            )
        return "dry_run" if self.dry_run else "write"

    @property
    def reason(self) -> str:
        if not self.enabled:
            return f"{self.enabled_flag}=false"
        if self.dry_run:
            return f"{self.dry_run_flag}=true"
        return ""


def vtiger_record_gate(settings: Settings) -> WriteGate:
    return WriteGate(
        system="vtiger",
        what="vTiger record update",
        enabled=settings.vtiger_sync_enabled,
        enabled_flag="VTIGER_SYNC_ENABLED",
    )


def economic_customer_gate(settings: Settings) -> WriteGate:
    return WriteGate(
        system="economic",
        what="e-conomic customer update",
        enabled=settings.economic_sync_enabled,
        enabled_flag="ECONOMIC_SYNC_ENABLED",
        read_only=settings.economic_read_only,
        read_only_flag="ECONOMIC_READ_ONLY",
        dry_run=settings.economic_dry_run,
        dry_run_flag="ECONOMIC_DRY_RUN",
    )


def economic_draft_order_gate(settings: Settings) -> WriteGate:
    # Time-tracking exports have their own pair of flags (the seed's two safety layers); customer sync's
    # ECONOMIC_SYNC_ENABLED does not switch them off.
    return WriteGate(
        system="economic",
        what="e-conomic draft order export",
        read_only=settings.timetracking_economic_read_only,
        read_only_flag="TIMETRACKING_ECONOMIC_READ_ONLY",
        dry_run=settings.timetracking_economic_dry_run,
        dry_run_flag="TIMETRACKING_ECONOMIC_DRY_RUN",
    )
