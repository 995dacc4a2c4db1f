"""One customer as the hub, vTiger and e-conomic each state it: which fields differ, and what to pick.

Suggestion rules, in order, for a field whose values differ among the systems that were read:
1. Trust: if FIELD_TRUST names a system for the field, that system was read and has a value, it wins
   ("e-conomic is trusted for CVR"). A trusted system that is empty or unavailable never wins: trust
   is about which value is right, not a licence to erase the field everywhere.
2. Majority of the non-empty values ("2 of 3 agree"; a lone value against empties: "only hub has a
   value"). Empty values never win while any system has a value: an empty field is usually one
   nobody filled in, and suggesting it would erase data.
3. Otherwise (a tie between different values) no suggestion ("no majority"): a person decides.
Among systems that agree, the first in hub, vTiger, e-conomic order is named; they agree, so it does
not matter to the values written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from hubtui.core.fields import SYSTEMS, FieldMapping, System, field_label, system_name
from hubtui.core.normalize import normalize


class NotInSystem(Enum):
    """The value of a field a system does not have. Falsy, so `value or "—"` reads naturally."""

    NOT_IN_SYSTEM = "not in system"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_IN_SYSTEM"


NOT_IN_SYSTEM: Final = NotInSystem.NOT_IN_SYSTEM

# What one system says about a field: its text, None when empty, or NOT_IN_SYSTEM.
Cell = str | None | NotInSystem
# One system's record keyed by hub field names; None when the system could not be read.
SystemValues = Mapping[str, object] | None

# English texts of the reasons; `Reason.values` fill the {placeholders}. A translation needs the same
# keys and placeholders ({system} is a system id, {field} a hub field name, the rest numbers).
REASON_TEXTS: dict[str, str] = {
    "agree": "{count} of {count} agree",
    "all_empty": "empty in all {count}",
    "alone": "nothing to compare {system} with",
    "unread": "no system with this field could be read",
    "trusted": "{system} is trusted for {field}",
    "trusted_empty": "{system} is trusted for {field} but has no value",
    "trusted_unavailable": "{system} is trusted for {field} but is unavailable",
    "majority": "{agree} of {total} agree",
    "only_value": "only {system} has a value",
    "no_majority": "no majority",
}


@dataclass(frozen=True)
class Reason:
    """Why a field got (or did not get) its suggestion, as a key and values, so it can be translated."""

    key: str
    values: Mapping[str, str | int] = field(default_factory=dict)

    def text(
        self,
        texts: Mapping[str, str] = REASON_TEXTS,
        system_label: Callable[[str], str] = system_name,
        label: Callable[[str], str] = field_label,
    ) -> str:
        shown = dict(self.values)
        if "system" in shown:
            shown["system"] = system_label(str(shown["system"]))
        if "field" in shown:
            shown["field"] = label(str(shown["field"]))
        return texts[self.key].format(**shown)


def explain(
    reasons: Iterable[Reason],
    texts: Mapping[str, str] = REASON_TEXTS,
    system_label: Callable[[str], str] = system_name,
    label: Callable[[str], str] = field_label,
) -> str:
    """The reasons as one line: "e-conomic is trusted for CVR but is unavailable; no majority"."""
    return "; ".join(reason.text(texts, system_label, label) for reason in reasons)


@dataclass(frozen=True)
class FieldComparison:
    """One field across the three systems. A *discrepancy* is a FieldComparison with `differs=True`.

    `values` has a key for every system that was read (its text, None when empty) and NOT_IN_SYSTEM
    for every system without the field (read or not). A system that could not be read and has the field
    has no key: see `CustomerComparison.available`.
    """

    field: str
    values: dict[str, Cell]
    differs: bool
    suggested: System | None  # only when the field differs and a rule picks one
    reason: str  # English, always present; `reasons` hold the same for translation
    reasons: tuple[Reason, ...] = ()
    mapping: FieldMapping | None = None

    @property
    def label(self) -> str:
        return field_label(self.field)

    @property
    def compared(self) -> tuple[str, ...]:
        """The systems whose values took part: read, and having the field."""
        return tuple(s for s in SYSTEMS if s in self.values and self.values[s] is not NOT_IN_SYSTEM)

    def has_field(self, system: str) -> bool:
        return self.values.get(system) is not NOT_IN_SYSTEM

    def value(self, system: str) -> str | None:
        """The system's text for the field; None when empty, not read, or not in that system."""
        cell = self.values.get(system)
        return cell if isinstance(cell, str) else None


Discrepancy = FieldComparison  # with differs=True; `CustomerComparison.discrepancies` holds only those


@dataclass(frozen=True)
class CustomerComparison:
    fields: tuple[FieldComparison, ...]
    available: dict[str, bool]
    mappings: tuple[FieldMapping, ...] = ()

    @property
    def discrepancies(self) -> tuple[FieldComparison, ...]:
        return tuple(comparison for comparison in self.fields if comparison.differs)

    @property
    def discrepancy_count(self) -> int:
        return sum(1 for comparison in self.fields if comparison.differs)

    def field(self, name: str) -> FieldComparison:
        for comparison in self.fields:
            if comparison.field == name:
                return comparison
        raise KeyError(name)

    def discrepancies_first(self) -> tuple[FieldComparison, ...]:
        return self.discrepancies + tuple(comparison for comparison in self.fields if not comparison.differs)

    def discrepancies_as_dict(self) -> dict[str, dict[str, str | None]]:
        """`{field: {hub, vtiger, economic, suggested, reason}}` for `hubtui check --json`.

        A system's value is null when empty, unavailable or without the field (`available` tells which).
        """
        return {
            comparison.field: {
                **{system: comparison.value(system) for system in SYSTEMS},
                "suggested": comparison.suggested,
                "reason": comparison.reason,
            }
            for comparison in self.discrepancies
        }


def _cell(value: object) -> str | None:
    # Empty and missing are the same to a support person; anything else is shown and written as is.
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def hub_view_of_vtiger(account: Mapping[str, object], mappings: Iterable[FieldMapping]) -> dict[str, object]:
    """A vTiger account keyed by hub field names; fields vTiger lacks are left out, missing ones None."""
    return {m.hub: account.get(m.vtiger) for m in mappings if m.vtiger is not None}


def hub_view_of_economic(
    customer: Mapping[str, object], mappings: Iterable[FieldMapping]
) -> dict[str, object]:
    """An e-conomic customer keyed by hub field names. e-conomic leaves empty fields out: absent = None."""
    return {m.hub: customer.get(m.economic) for m in mappings if m.economic is not None}


def _suggest(
    field: str, keys: dict[System, str], mapping: FieldMapping, trusted: Mapping[str, str]
) -> tuple[System | None, tuple[Reason, ...]]:
    notes: list[Reason] = []
    trusted_system = next((system for system in SYSTEMS if system == trusted.get(field)), None)
    if trusted_system is not None and mapping.name_in(trusted_system) is not None:
        facts = {"system": trusted_system, "field": field}
        if trusted_system not in keys:
            notes.append(Reason("trusted_unavailable", facts))
        elif not keys[trusted_system]:
            notes.append(Reason("trusted_empty", facts))
        else:
            return trusted_system, (Reason("trusted", facts),)

    groups: dict[str, list[System]] = {}
    for system, key in keys.items():  # in SYSTEMS order, so a group's first system is deterministic
        if key:
            groups.setdefault(key, []).append(system)
    largest = max(map(len, groups.values()), default=0)
    leaders = [systems for systems in groups.values() if len(systems) == largest]
    if len(leaders) != 1:
        return None, (*notes, Reason("no_majority"))
    winners = leaders[0]
    if len(groups) == 1 and len(winners) == 1:
        return winners[0], (*notes, Reason("only_value", {"system": winners[0]}))
    return winners[0], (*notes, Reason("majority", {"agree": len(winners), "total": len(keys)}))


def compare_field(
    mapping: FieldMapping, records: Mapping[str, SystemValues], trusted: Mapping[str, str]
) -> FieldComparison:
    field_name = mapping.hub
    values: dict[str, Cell] = {}
    keys: dict[System, str] = {}
    for system in SYSTEMS:
        record = records.get(system)
        if mapping.name_in(system) is None:
            values[system] = NOT_IN_SYSTEM
        elif record is not None:
            cell = _cell(record.get(field_name))
            values[system] = cell
            keys[system] = normalize(field_name, cell)

    differs = len(set(keys.values())) > 1
    suggested: System | None = None
    if not keys:
        reasons: tuple[Reason, ...] = (Reason("unread"),)
    elif len(keys) == 1:
        reasons = (Reason("alone", {"system": next(iter(keys))}),)
    elif not differs:
        reasons = (Reason("agree" if any(keys.values()) else "all_empty", {"count": len(keys)}),)
    else:
        suggested, reasons = _suggest(field_name, keys, mapping, trusted)
    return FieldComparison(field_name, values, differs, suggested, explain(reasons), reasons, mapping)


def compare_customer(
    hub: SystemValues,
    vtiger: SystemValues,
    economic: SystemValues,
    mappings: Iterable[FieldMapping],
    trusted: Mapping[str, str] | None = None,
) -> CustomerComparison:
    """Compare one customer. Each record is keyed by hub field names (see `hub_view_of_*`), or None
    when that system could not be read: it then takes no part in comparison or suggestion.
    `trusted` is `Settings.trusted_systems` (hub field → system id)."""
    records = {"hub": hub, "vtiger": vtiger, "economic": economic}
    mappings = tuple(mappings)
    rules = trusted or {}
    return CustomerComparison(
        fields=tuple(compare_field(mapping, records, rules) for mapping in mappings),
        available={system: records[system] is not None for system in SYSTEMS},
        mappings=mappings,
    )
