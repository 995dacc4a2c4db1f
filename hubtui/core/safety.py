"""What a write would do under the safety flags: which settings govern which kind of write, and the one rule
from those flags to a mode. The connectors enforce it (connectors/safety.py); the screens say it in words.

Order of the checks, and why:
1. sync disabled -> "disabled": the system is switched off, so nothing is read or sent;
2. read-only -> the write is refused before any request (the message names the flag to change);
3. dry-run -> the exact request is built and returned unsent;
4. otherwise it is sent ("live").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hubtui.config import Settings

SafetyMode = Literal["disabled", "read_only", "dry_run", "live"]


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

    @property
    def mode(self) -> SafetyMode:
        # Switched off wins over everything; READ-ONLY wins over DRY-RUN: a blocked write is never simulated.
        if not self.enabled:
            return "disabled"
        if self.read_only:
            return "read_only"
        if self.dry_run:
            return "dry_run"
        return "live"

    @property
    def flag(self) -> str | None:
        """The setting that puts the gate in its mode (None when live)."""
        return {"disabled": self.enabled_flag, "read_only": self.read_only_flag,
                "dry_run": self.dry_run_flag}.get(self.mode)

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
