"""The customer list's index: filter and sort as a support person expects (no database, no event loop)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hubtui.core.customer_index import COLUMNS, Column, CustomerIndex
from hubtui.core.fold import fold
from hubtui.sandbox.demo_data import DemoCompany, demo_companies

# id, discrepancies (None = not checked yet), name, CVR, city, vTiger id, e-conomic number
SAMPLE: list[tuple[int, int | None, str, str, str, str, str]] = [
    (1, None, "Østjysk Byg ApS", "12345678", "Aarhus C", "3x999", "10001"),
    (2, 2, "nordisk el A/S", "87654321", "København Ø", "3x1000", "9999"),
    (3, 0, "Ærø Tømrer I/S", "", "Marstal", "3x5", ""),
    (4, 5, "ØRESUND DATA ApS", "11223344", "Helsingør", "3x10000", "10000"),
    (5, None, "Blå Print K/S", "44556677", "ODENSE C", "3x20", "42"),
    (6, 1, "Aalborg Kloak & Søn", "99887766", "Aarhus C", "3x1001", "7"),
    (7, None, "bølge consult ivs", "55443322", "aarhus c", "3x3", "123"),
]
COLUMN_OF = {
    Column.NAME: 2, Column.CVR: 3, Column.CITY: 4, Column.VTIGER_ID: 5, Column.ECONOMIC_NUMBER: 6,
}


def build(rows: list[tuple[int, int | None, str, str, str, str, str]]) -> CustomerIndex:
    return CustomerIndex.from_values((r[0], r[1], list(r[2:])) for r in rows)


@pytest.fixture(scope="module")
def index() -> CustomerIndex:
    return build(SAMPLE)


def ids(index: CustomerIndex, positions: list[int]) -> list[int]:
    return [index.ids[p] for p in positions]


def shown(index: CustomerIndex, **view: object) -> list[int]:
    return ids(index, index.view(**view))  # type: ignore[arg-type]


# --- filter -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("byg", {1}),  # name
        ("BYG", {1}),
        ("øresund", {4}),  # ø matches Ø
        ("ØSTJYSK", {1}),  # Ø matches Ø in any case
        ("østjysk", {1}),
        ("ærø", {3}),
        ("BØLGE", {7}),
        ("876543", {2}),  # part of a CVR
        ("11223344", {4}),
        ("københavn ø", {2}),  # city
        ("odense", {5}),
        ("AARHUS c", {1, 6, 7}),
        ("3x999", {1}),  # vTiger id
        ("3x1000", {2, 4}),  # 3x10000 contains it
        ("9999", {2}),  # e-conomic number
        ("10000", {4}),
        ("  print  ", {5}),  # surrounding spaces do not count
        ("kobenhavn", {2}),  # ø typed as o or oe, å as a or aa, æ as ae: as Danes type without the letters
        ("koebenhavn", {2}),
        ("helsingor", {4}),
        ("boelge", {7}),
        ("aero", {3}),
        ("aeroe", {3}),
        ("århus", {1, 6, 7}),
        ("arhus", {1, 6, 7}),
        ("alborg kloak & son", {6}),
        ("blaa print", {5}),
        ("", {1, 2, 3, 4, 5, 6, 7}),
        ("   ", {1, 2, 3, 4, 5, 6, 7}),
        ("zzz", set()),
        ("ApS12345678", set()),  # never matches across two columns
        ("C87654321", set()),
    ],
)
def test_filter(index: CustomerIndex, query: str, expected: set[int]) -> None:
    result = shown(index, query=query)
    assert set(result) == expected
    assert len(result) == len(expected)


def test_filter_matches_every_listed_column_on_demo_data() -> None:
    companies = demo_companies(500)
    index = CustomerIndex.from_values(
        (n + 1, None, [c.name, c.cvr_number or "", c.city or "", c.vtiger_id,
                       str(c.economic_customer_number or "")])
        for n, c in enumerate(companies)
    )
    queries = ["søn", "SØN", "aps", "københavn", "3x11", "1004", "grøn", "ÅRHUS", "byg a/s", "99", "K/S"]
    for query in queries:
        needle = fold(query)
        expected = {
            n + 1 for n, c in enumerate(companies)
            if any(needle in fold(str(v)) for v in (c.name, c.cvr_number or "", c.city or "",
                                                          c.vtiger_id, c.economic_customer_number or ""))
        }
        assert set(shown(index, query=query)) == expected, query


def test_only_discrepancies(index: CustomerIndex) -> None:
    assert set(shown(index, only_discrepancies=True)) == {2, 4, 6}  # 0 and unchecked are not shown
    assert set(shown(index, query="aarhus", only_discrepancies=True)) == {6}
    assert shown(index, query="østjysk", only_discrepancies=True) == []


# --- sort -------------------------------------------------------------------------------------------


def sort_key(column: Column) -> Callable[[tuple[int, int | None, str, str, str, str, str]], object]:
    """The order a person expects; equal values in name order."""
    if column is Column.VTIGER_ID:
        return lambda r: (int(r[5].partition("x")[2]), r[2].casefold())
    if column is Column.ECONOMIC_NUMBER:
        return lambda r: (int(r[6]), r[2].casefold())
    if column is Column.DISCREPANCIES:
        return lambda r: (r[1], r[2].casefold())
    return lambda r: (r[COLUMN_OF[column]].casefold(), r[2].casefold())


def has_value(column: Column, row: tuple[int, int | None, str, str, str, str, str]) -> bool:
    if column is Column.DISCREPANCIES:
        return row[1] is not None
    return row[COLUMN_OF[column]] != ""


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_by_every_column(index: CustomerIndex, column: Column, descending: bool) -> None:
    result = shown(index, sort=column, descending=descending)
    assert sorted(result) == [1, 2, 3, 4, 5, 6, 7]
    with_value = [r for r in SAMPLE if has_value(column, r)]
    expected = [r[0] for r in sorted(with_value, key=sort_key(column), reverse=descending)]
    assert [i for i in result if i in set(expected)] == expected


def test_vtiger_ids_sort_by_number(index: CustomerIndex) -> None:
    assert shown(index, sort=Column.VTIGER_ID) == [7, 3, 5, 1, 2, 6, 4]  # 3x3 … 3x999, 3x1000, 3x10000
    assert shown(index, sort=Column.VTIGER_ID, descending=True) == [4, 6, 2, 1, 5, 3, 7]


def test_economic_numbers_sort_by_number_missing_last(index: CustomerIndex) -> None:
    assert shown(index, sort=Column.ECONOMIC_NUMBER) == [6, 5, 7, 2, 4, 1, 3]


def test_unchecked_discrepancies_sort_last(index: CustomerIndex) -> None:
    result = shown(index, sort=Column.DISCREPANCIES)
    assert result[:4] == [3, 6, 2, 4]
    assert set(result[4:]) == {1, 5, 7}


def test_unchecked_discrepancies_sort_last_descending_too(index: CustomerIndex) -> None:
    result = shown(index, sort=Column.DISCREPANCIES, descending=True)
    assert result[:4] == [4, 2, 6, 3]
    assert set(result[4:]) == {1, 5, 7}


def test_equal_values_keep_name_order(index: CustomerIndex) -> None:
    # Three customers in Aarhus C (one spelled in lower case): among them, name order.
    result = shown(index, sort=Column.CITY)
    aarhus = [i for i in result if i in {1, 6, 7}]
    assert aarhus == [6, 7, 1]  # Aalborg…, bølge…, Østjysk…


def test_views_do_not_disturb_each_other(index: CustomerIndex) -> None:
    for column in COLUMNS:
        ascending = shown(index, sort=column)
        descending = shown(index, sort=column, descending=True)
        assert shown(index, sort=column) == ascending
        assert shown(index, sort=column, descending=True) == descending
        matching = set(shown(index, query="a"))
        assert shown(index, sort=column, query="a") == [i for i in ascending if i in matching]


# --- narrowing ----------------------------------------------------------------------------------------


def fresh_index(companies: list[DemoCompany]) -> CustomerIndex:
    return CustomerIndex.from_values(
        (n + 1, (n % 4) - 1 if n % 4 else None,
         [c.name, c.cvr_number or "", c.city or "", c.vtiger_id, str(c.economic_customer_number or "")])
        for n, c in enumerate(companies)
    )


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("only_discrepancies", [False, True])
def test_narrowing_equals_a_fresh_filter(column: Column, descending: bool, only_discrepancies: bool) -> None:
    companies = demo_companies(300)
    index = fresh_index(companies)
    options = {"sort": column, "descending": descending, "only_discrepancies": only_discrepancies}
    for typed in ("Kolding Byg", "3x11", "SØNDERBORG", "  aps "):
        # Typed letter by letter and erased again: each view narrows or reuses a remembered one ...
        queries = [typed[:end] for end in range(1, len(typed) + 1)]
        for query in queries + queries[::-1]:
            fresh = fresh_index(companies).view(query, **options)  # type: ignore[arg-type]
            # ... and must equal what an index with nothing remembered computes.
            assert index.view(query, **options) == fresh, query  # type: ignore[arg-type]


@pytest.mark.parametrize(("typed", "name"), [
    ("sonderborg", "Sønderborg"), ("soenderborg", "Sønderborg"), ("koebenhavn", "København"),
    ("aabenraa", "Åbenrå"), ("abenra", "Aabenraa"), ("aeblegaarden", "Æblegården"), ("cafe", "Café Élan"),
    ("MUNCHEN", "München"),
])
def test_fold_finds_danish_and_accented_names_typed_without_the_letters(typed: str, name: str) -> None:
    assert fold(typed) in fold(name)


def test_a_longer_query_folds_to_an_extension_of_the_shorter_one() -> None:
    # The index narrows a filter by rescanning what the shorter query matched: that needs this property.
    for word in ("koebenhavn", "aarhus", "aeroe", "soenderborg", "Åbenrå", "Ærøskøbing", "bøgeskov"):
        for end in range(len(word)):
            assert fold(word[: end + 1]).startswith(fold(word[:end])), word[: end + 1]


def test_a_line_break_inside_customer_data_does_not_shift_the_filter() -> None:
    index = build([(1, None, "Linje\nbrud ApS", "", "Ærø", "3x1", ""), (2, None, "Søby Smed", "", "Ærø", "3x2", "")])
    assert shown(index, query="soby") == [2]
    assert shown(index, query="brud") == [1]
