"""From the support person's choices to exactly which system gets which fields written.

A system gets a field only when the write changes something: picking a system's value leaves every
system whose value already means the same (see `normalize`) alone. A custom value or an undo is meant
literally, so it is written wherever the stored text differs at all. A field is never written to a
system without it, nor to a system that could not be read (that is reported in `skipped`).

A value of None in a write means "clear the field": NULL in the hub, "" for vTiger, and left out of
e-conomic's PUT (e-conomic rejects null).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from hubtui.core.compare import NOT_IN_SYSTEM, CustomerComparison, Reason
from hubtui.core.fields import (
    ECONOMIC_MAX_LENGTHS,
    REQUIRED_FIELDS,
    SYSTEMS,
    FieldMapping,
    System,
    system_name,
)
from hubtui.core.normalize import normalize
from hubtui.core.validate import validate

Source = Literal["hub", "vtiger", "economic", "custom", "keep"]

SKIP_TEXTS: dict[str, str] = {
    "unavailable": "{system} is unavailable",
    "not_in_system": "not in {system}",
    "required": "{field} cannot be empty",
    "too_long": "too long for {system}: {length} characters, at most {limit}",
    "changed_since": "changed in {system} since then (now '{current}'); undo would overwrite it",
    "unknown_field": "'{field}' is not a customer field",
}


@dataclass(frozen=True)
class FieldChoice:
    """What to do with one field. `value` is only read for "custom"; a system's value comes from the
    comparison, exactly as that system holds it."""

    field: str
    source: Source
    value: str | None = None

    @classmethod
    def pick(cls, field: str, system: System) -> FieldChoice:
        return cls(field, system)

    @classmethod
    def custom(cls, field: str, value: str) -> FieldChoice:
        return cls(field, "custom", value)

    @classmethod
    def keep(cls, field: str) -> FieldChoice:
        return cls(field, "keep")


@dataclass(frozen=True)
class FieldChange:
    """One field written to one system."""

    system: System
    field: str  # the hub field name
    remote_field: str  # the field's name in `system` (the hub's own name for the hub)
    before: str | None
    after: str | None


@dataclass(frozen=True)
class SkippedWrite:
    system: System
    field: str
    why: Reason

    @property
    def reason(self) -> str:
        return self.why.text(SKIP_TEXTS)


@dataclass(frozen=True)
class WritePlan:
    changes: tuple[FieldChange, ...] = ()
    skipped: tuple[SkippedWrite, ...] = ()

    def for_system(self, system: str) -> dict[str, str | None]:
        """What to send to `system`: its own field names → new value (None clears)."""
        return {change.remote_field: change.after for change in self.changes if change.system == system}

    @property
    def hub(self) -> dict[str, str | None]:
        return self.for_system("hub")

    @property
    def vtiger(self) -> dict[str, str | None]:
        return self.for_system("vtiger")

    @property
    def economic(self) -> dict[str, str | None]:
        return self.for_system("economic")

    @property
    def before(self) -> dict[str, dict[str, str | None]]:
        """Per system, the current values of exactly the fields written, by the system's field names."""
        return {
            system: {c.remote_field: c.before for c in self.changes if c.system == system}
            for system in SYSTEMS
        }

    @property
    def systems(self) -> tuple[System, ...]:
        """The systems that get a write, in hub, vTiger, e-conomic order."""
        return tuple(system for system in SYSTEMS if any(c.system == system for c in self.changes))

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def only(self, system: str) -> WritePlan:
        """The part of the plan for one system, e.g. to retry it alone."""
        return WritePlan(
            tuple(c for c in self.changes if c.system == system),
            tuple(s for s in self.skipped if s.system == system),
        )

    def audit_values(self, system: str) -> tuple[dict[str, str | None], dict[str, str | None]]:
        """(before, after) of `system`'s writes keyed by HUB field names: what an audit event stores,
        and what `undo_plan` reads back."""
        changes = [c for c in self.changes if c.system == system]
        return {c.field: c.before for c in changes}, {c.field: c.after for c in changes}


@dataclass
class _Planner:
    comparison: CustomerComparison
    mappings: dict[str, FieldMapping]
    changes: list[FieldChange] = field(default_factory=list)
    skipped: list[SkippedWrite] = field(default_factory=list)

    def skip(self, system: System, field_name: str, key: str, **values: str | int) -> None:
        facts: dict[str, str | int] = {"system": system, "field": field_name, **values}
        self.skipped.append(SkippedWrite(system, field_name, Reason(key, facts)))

    def write(self, system: System, field_name: str, target: str | None, *, literal: bool) -> None:
        """Plan `target` into `system` unless it changes nothing or the system cannot take it."""
        remote = self.mappings[field_name].name_in(system)
        if remote is None:
            return
        if not self.comparison.available.get(system, False):
            self.skip(system, field_name, "unavailable")
            return
        current = self.comparison.field(field_name).value(system)
        if literal:
            unchanged = current == target
        else:
            unchanged = normalize(field_name, current) == normalize(field_name, target)
        if unchanged:
            return
        if not target and field_name in REQUIRED_FIELDS:
            self.skip(system, field_name, "required")
            return
        limit = ECONOMIC_MAX_LENGTHS.get(remote) if system == "economic" else None
        if target and limit is not None and len(target) > limit:
            self.skip(system, field_name, "too_long", length=len(target), limit=limit)
            return
        self.changes.append(FieldChange(system, field_name, remote, current, target))

    def plan(self) -> WritePlan:
        return WritePlan(tuple(self.changes), tuple(self.skipped))


def _chosen_value(comparison: CustomerComparison, choice: FieldChoice) -> str | None:
    if choice.source == "custom":
        return validate(choice.field, choice.value or "") or None
    compared = comparison.field(choice.field)
    cell = compared.values.get(choice.source)
    if cell is NOT_IN_SYSTEM or choice.source not in compared.values:
        # The diff screen never offers these; reaching here is a bug in the caller, not a user error.
        source = system_name(choice.source)
        raise ValueError(f"cannot take {choice.field} from {source}: not read, or not there")
    return compared.value(choice.source)


def build_plan(
    comparison: CustomerComparison,
    choices: Iterable[FieldChoice] | Mapping[str, FieldChoice],
    mappings: Iterable[FieldMapping] | None = None,
) -> WritePlan:
    """The writes that make every system hold the chosen value of each field.

    Raises InvalidValue for a custom value that does not validate, ValueError for a choice the
    comparison cannot satisfy (unknown field, or a system that was not read or lacks the field)."""
    planner = _planner(comparison, mappings)
    for choice in choices.values() if isinstance(choices, Mapping) else choices:
        if choice.source == "keep":
            continue
        if choice.field not in planner.mappings:
            raise ValueError(f"{choice.field!r} is not a customer field")
        target = _chosen_value(comparison, choice)
        for system in SYSTEMS:
            planner.write(system, choice.field, target, literal=choice.source == "custom")
    return planner.plan()


def undo_plan(
    before: Mapping[str, Mapping[str, object]],
    comparison: CustomerComparison,
    mappings: Iterable[FieldMapping] | None = None,
    after: Mapping[str, Mapping[str, object]] | None = None,
) -> WritePlan:
    """The writes that put each system's "before" values back.

    `before` (and `after`) are keyed by system, then by HUB field name, as `WritePlan.audit_values`
    gives them: `{"hub": {"city": "Århus"}, "vtiger": {"city": "Aarhus"}, "economic": {...}}` — collect
    them from the audit events of one apply (`{event.system: event.before}`). `comparison` is a fresh
    read of the customer. With `after`, a field whose value changed again since that write is skipped
    ("changed since"), so an undo never overwrites someone else's later edit.
    """
    planner = _planner(comparison, mappings)
    for system in SYSTEMS:
        for field_name, old in (before.get(system) or {}).items():
            mapping = planner.mappings.get(field_name)
            if mapping is None:
                planner.skip(system, field_name, "unknown_field")
                continue
            if mapping.name_in(system) is None:
                planner.skip(system, field_name, "not_in_system")
                continue
            written = (after or {}).get(system, {})
            if field_name in written and comparison.available.get(system, False):
                current = comparison.field(field_name).value(system)
                if normalize(field_name, current) != normalize(field_name, written[field_name]):
                    planner.skip(system, field_name, "changed_since", current=current or "")
                    continue
            target = None if old is None else str(old)
            planner.write(system, field_name, target or None, literal=True)
    return planner.plan()


def _planner(comparison: CustomerComparison, mappings: Iterable[FieldMapping] | None) -> _Planner:
    chosen = tuple(mappings) if mappings is not None else comparison.mappings
    return _Planner(comparison, {mapping.hub: mapping for mapping in chosen})
