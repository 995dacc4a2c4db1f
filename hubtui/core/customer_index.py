"""A compact, in-memory index of the customer list: filter and sort 100,000 rows in milliseconds.

The list screen holds no widget or Rich object per customer: per row it keeps the id, the discrepancy
count, one display line (the visible columns joined by a separator) and that line folded for searching
(case, accents and Danish letters: see core/fold.py). Filtering runs in C (`map` + `compress` over the
folded lines); a sort order per column
is computed once and reused; only the rows on screen are ever split into cells.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from enum import StrEnum
from itertools import compress, repeat

from hubtui.core.fold import fold, fold_all

# Separates the cells of a display line. The loader replaces it inside values, so it cannot split a cell.
SEPARATOR = "\x1f"
UNCHECKED = -1  # discrepancy count of a customer the consistency check has not seen yet
RECENT_VIEWS = 16  # remembered filter results; each is at most one list of positions


class Column(StrEnum):
    NAME = "name"
    CVR = "cvr_number"
    CITY = "city"
    VTIGER_ID = "vtiger_id"
    ECONOMIC_NUMBER = "economic_customer_number"
    DISCREPANCIES = "discrepancy_count"


COLUMNS: tuple[Column, ...] = tuple(Column)
TEXT_COLUMNS: tuple[Column, ...] = COLUMNS[:-1]  # the columns held in a display line, in order


def _vtiger_sort_key(value: str) -> tuple[int, int, str]:
    # "3x1000" < "3x999" as text; compare the record number as a number instead.
    prefix, _, number = value.partition("x")
    if prefix.isdigit() and number.isdigit():
        return (int(prefix), int(number), "")
    return (1 << 30, 0, value)


def _number_sort_key(value: str) -> tuple[bool, int]:
    return (not value.isdigit(), int(value) if value.isdigit() else 0)


class CustomerIndex:
    def __init__(self, rows: Iterable[tuple[int, int | None, str]] = ()) -> None:
        """`rows` are (customer id, discrepancy count or None, display line), in name order."""
        self.ids = array("q")
        self.discrepancies = array("i")
        self.lines: list[str] = []
        for customer_id, count, line in rows:
            self.ids.append(customer_id)
            self.discrepancies.append(UNCHECKED if count is None else count)
            self.lines.append(line)
        self._haystacks = fold_all(self.lines)
        # The loader delivers rows in name order, so that order is free.
        self._orders: dict[Column, list[int]] = {Column.NAME: list(range(len(self.lines)))}
        self._recent: OrderedDict[tuple[str, Column, bool, bool], list[int]] = OrderedDict()

    @classmethod
    def from_values(cls, rows: Iterable[tuple[int, int | None, Sequence[str]]]) -> CustomerIndex:
        """Build from (id, discrepancy count, text cells) and sort by name: for tests and small lists."""
        items = [(i, c, SEPARATOR.join(v.replace(SEPARATOR, " ") for v in cells)) for i, c, cells in rows]
        items.sort(key=lambda item: item[2].split(SEPARATOR, 1)[0].casefold())
        return cls(items)

    def __len__(self) -> int:
        return len(self.lines)

    def cells(self, position: int) -> dict[Column, str]:
        values = self.lines[position].split(SEPARATOR)
        cells = dict(zip(TEXT_COLUMNS, values, strict=False))
        count = self.discrepancies[position]
        cells[Column.DISCREPANCIES] = "" if count == UNCHECKED else str(count)
        return cells

    def order(self, column: Column) -> list[int]:
        """Row positions sorted ascending by `column`, computed once per column."""
        if column not in self._orders:
            self._orders[column] = self._sorted_positions(column)
        return self._orders[column]

    def _sorted_positions(self, column: Column) -> list[int]:
        if column is Column.DISCREPANCIES:
            # Unchecked customers sort after every checked one.
            keys: list[object] = [(c == UNCHECKED, c) for c in self.discrepancies]
        else:
            cell = TEXT_COLUMNS.index(column)
            values = [line.split(SEPARATOR)[cell] for line in self.lines]
            if column is Column.VTIGER_ID:
                keys = [_vtiger_sort_key(v) for v in values]
            elif column is Column.ECONOMIC_NUMBER:
                keys = [_number_sort_key(v) for v in values]
            else:
                keys = [v.casefold() for v in values]
        # Python's sort is stable, so equal keys stay in name order.
        return sorted(range(len(keys)), key=keys.__getitem__)

    def view(
        self,
        query: str = "",
        sort: Column = Column.NAME,
        descending: bool = False,
        only_discrepancies: bool = False,
    ) -> list[int]:
        """Positions of the rows matching `query` (a substring, folded like core/fold.py), in sort order.

        Recent views are remembered: typing one more letter only rescans what the shorter query matched, and
        a backspace returns a remembered view at once. The returned list is shared: do not change it."""
        needle = fold(query.strip())
        key = (needle, sort, descending, only_discrepancies)
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        shorter = [k for k in self._recent if k[1:] == key[1:] and needle.startswith(k[0])]
        if shorter:
            positions: Sequence[int] = self._recent[max(shorter, key=lambda k: len(k[0]))]
        else:
            positions = self._unfiltered(sort, descending, only_discrepancies)
        if needle:
            candidates = map(self._haystacks.__getitem__, positions)
            positions = list(compress(positions, map(str.__contains__, candidates, repeat(needle))))
        self._recent[key] = result = list(positions)
        while len(self._recent) > RECENT_VIEWS:
            self._recent.popitem(last=False)
        return result

    def _unfiltered(self, sort: Column, descending: bool, only_discrepancies: bool) -> list[int]:
        positions = list(self.order(sort))  # a copy: the cached sort order must never be reversed in place
        counts = self.discrepancies
        if only_discrepancies:
            positions = [p for p in positions if counts[p] > 0]
        if descending:
            positions.reverse()
            if sort is Column.DISCREPANCIES:
                # Most discrepancies first, but customers not checked yet stay at the end either way.
                positions = [p for p in positions if counts[p] != UNCHECKED] + [
                    p for p in positions if counts[p] == UNCHECKED
                ]
        return positions

    def set_discrepancies(self, counts: dict[int, int]) -> None:
        """New discrepancy counts by customer id (from a check); views that depend on them are recomputed."""
        discrepancies = self.discrepancies
        for position, customer_id in enumerate(self.ids):
            if customer_id in counts:
                discrepancies[position] = counts[customer_id]
        self._orders.pop(Column.DISCREPANCIES, None)
        self._recent.clear()
