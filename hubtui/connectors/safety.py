"""The write gates enforced inside the connectors, below any UI: a read-only write raises before any request
is made (the gates themselves, and the mode each is in, are core/safety.py)."""

from __future__ import annotations

from typing import Literal

from hubtui.connectors.base import SYSTEM_LABELS, WriteBlocked
from hubtui.core.safety import WriteGate

GateDecision = Literal["disabled", "dry_run", "write"]


def decide(gate: WriteGate, method: str, path: str) -> GateDecision:
    """What to do with ``method path``; raises ``WriteBlocked`` under read-only."""
    if gate.mode == "disabled":
        return "disabled"
    if gate.mode == "read_only":
        label = SYSTEM_LABELS.get(gate.system, gate.system)
        raise WriteBlocked(
            gate.system,
            f"{gate.what} blocked: {gate.read_only_flag}=true forbids writing to {label} "
            f"({method} {path} was not sent; set {gate.read_only_flag}=false to allow it)",
            flag=gate.read_only_flag or "",
        )
    return "dry_run" if gate.mode == "dry_run" else "write"
