"""A compact, in-memory index of the customer list: filter and sort 100,000 rows in milliseconds.

The list screen never holds widgets or Rich objects per customer; it keeps these plain columns and
draws only the rows on screen. Filtering is a substring scan over one pre-lowered string per row, and
each sort order is computed once and reused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter


class Column(StrEnum):
    NAME = "name"
    CVR = "cvr_number"
    CITY = "city"
    VTIGER_ID = "vtiger_id"
    ECONOMIC_NUMBER = "economic_customer_number"
    DISCREPANCIES = "discrepancy_count"


COLUMNS: tuple[Column, ...] = tuple(Column)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: int
    name: str
    cvr_number: str
    city: str
    vtiger_id: str
    economic_customer_number: str
    discrepancy_count: int | None

    def cell(self, column: Column) -> str:
        value = getattr(self, column.value)
        return "" if value is None else str(value)


def _vtiger_sort_key(value: str) -> tuple[int, int, str]:
    # "3x1000" < "3x999" as text; compare the record number as a number instead.
    prefix, _, number = value.partition("x")
    if prefix.isdigit() and number.isdigit():
        return (int(prefix), int(number), "")
    return (1 << 30, 0, value)


class CustomerIndex:
    def __init__(self, rows: Iterable[CustomerRow]) -> None:
        self.rows: list[CustomerRow] = list(rows)
        self._haystacks: list[str] = [
            f"{r.name}\t{r.cvr_number}\t{r.city}\t{r.vtiger_id}\t{r.economic_customer_number}".casefold()
            for r in self.rows
        ]
        self._orders: dict[Column, list[int]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def order(self, column: Column) -> list[int]:
        """Row positions sorted ascending by `column`, computed once per column."""
        if column not in self._orders:
            self._orders[column] = self._sorted_positions(column)
        return self._orders[column]

    def _sorted_positions(self, column: Column) -> list[int]:
        rows = self.rows
        if column is Column.DISCREPANCIES:
            # Unchecked customers (None) sort after every checked one.
            keys = [(r.discrepancy_count is None, r.discrepancy_count or 0) for r in rows]
        elif column is Column.ECONOMIC_NUMBER:
            keys = [(r.economic_customer_number == "", int(r.economic_customer_number or 0)) for r in rows]
        elif column is Column.VTIGER_ID:
            keys = [_vtiger_sort_key(r.vtiger_id) for r in rows]
        else:
            keys = [getattr(r, column.value).casefold() for r in rows]
        return [position for position, _ in sorted(enumerate(keys), key=itemgetter(1))]

    def view(
        self,
        query: str = "",
        sort: Column = Column.NAME,
        descending: bool = False,
        only_discrepancies: bool = False,
        within: Sequence[int] | None = None,
    ) -> list[int]:
        """Positions of the rows matching `query` (case-insensitive substring), in sort order.

        `within` narrows a previous result: typing one more letter only rescans what already matched.
        """
        positions = list(self.order(sort)) if within is None else within
        needle = query.strip().casefold()
        if needle:
            haystacks = self._haystacks
            positions = [p for p in positions if needle in haystacks[p]]
        if only_discrepancies:
            rows = self.rows
            positions = [p for p in positions if (rows[p].discrepancy_count or 0) > 0]
        if descending and within is None:
            positions.reverse()
        return positions
