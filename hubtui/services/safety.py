"""What each kind of write would do right now, read from the write gates (core/safety.py, which the connectors
enforce): the flags become a mode in that one place. Screens turn a mode into words."""

from __future__ import annotations

from dataclasses import dataclass

from hubtui.config import Settings
from hubtui.core.safety import (
    SafetyMode,
    WriteGate,
    economic_customer_gate,
    economic_draft_order_gate,
    vtiger_record_gate,
)


@dataclass(frozen=True)
class WriteSafety:
    """What a kind of write would do right now, and the flag that makes it so (for the words on screen)."""

    mode: SafetyMode
    flag: str | None  # the setting behind a "disabled", "read_only" or "dry_run" mode

    @property
    def live(self) -> bool:
        return self.mode == "live"


def write_safety(gate: WriteGate) -> WriteSafety:
    return WriteSafety(gate.mode, gate.flag)


@dataclass(frozen=True)
class SafetyModes:
    """Every kind of write hubtui makes and its mode, read from the connectors' own write gates: the one
    place the read-only / dry-run / sync flags become a mode (the gates also enforce it)."""

    hub: WriteSafety
    vtiger: WriteSafety
    economic: WriteSafety
    order_export: WriteSafety

    @classmethod
    def of(cls, settings: Settings) -> SafetyModes:
        return cls(
            hub=WriteSafety("live", None),  # the hub is hubtui's own database: always written
            vtiger=write_safety(vtiger_record_gate(settings)),
            economic=write_safety(economic_customer_gate(settings)),
            order_export=write_safety(economic_draft_order_gate(settings)),
        )

    def of_system(self, system: str) -> WriteSafety:
        """A customer field write to `system` ("hub", "vtiger" or "economic")."""
        return {"hub": self.hub, "vtiger": self.vtiger, "economic": self.economic}[system]
