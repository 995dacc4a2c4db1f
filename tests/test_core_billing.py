"""Billable hours, typed hours, order lines, totals and order numbers: exact Decimal arithmetic."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from hubtui.core.billing import (
    LINE_DESCRIPTION_MAX,
    EntryForBilling,
    InvalidHours,
    OrderLineDraft,
    billable_hours,
    build_order_lines,
    effective_rate,
    line_amount,
    next_order_number,
    order_number,
    order_total,
    parse_hours,
)

ROUNDING_SETTINGS = (1, 5, 6, 10, 15, 30, 60)


def _half_up_cents(value: Fraction) -> Decimal:
    """An independent reference for "two decimals, half up", in exact fractions."""
    cents = value * 100
    whole = cents.numerator // cents.denominator
    if cents - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole) / 100


def _edge_minutes(rounding: int) -> set[int]:
    return {1, 2, rounding - 1, rounding, rounding + 1, 2 * rounding - 1, 2 * rounding, 2 * rounding + 1,
            29, 30, 31, 59, 60, 61, 89, 90, 95, 119, 120, 121, 479, 480, 1439, 1440, 1441} - {0}


ROUNDING_TABLE = [
    pytest.param(minutes, rounding, id=f"{minutes}min@{rounding}")
    for rounding in ROUNDING_SETTINGS
    for minutes in sorted(_edge_minutes(rounding))
]


@pytest.mark.parametrize(("minutes", "rounding"), ROUNDING_TABLE)
def test_billable_hours_rounds_minutes_up_then_hours_half_up(minutes: int, rounding: int) -> None:
    rounded_minutes = -(-minutes // rounding) * rounding
    expected = _half_up_cents(Fraction(rounded_minutes, 60))
    hours = billable_hours(minutes, rounding)
    assert hours == expected
    assert hours.as_tuple().exponent == -2  # always shown with two decimals
    assert rounded_minutes >= minutes and rounded_minutes % rounding == 0


@pytest.mark.parametrize(
    ("minutes", "rounding", "expected"),
    [
        (95, 15, "1.75"), (60, 15, "1.00"), (1, 15, "0.25"), (15, 15, "0.25"), (16, 15, "0.50"),
        (70, 10, "1.17"), (20, 10, "0.33"), (50, 10, "0.83"), (61, 10, "1.17"),
        (1, 1, "0.02"), (59, 1, "0.98"), (7, 5, "0.17"), (25, 5, "0.42"), (1, 6, "0.10"),
        (31, 30, "1.00"), (61, 60, "2.00"), (1440, 15, "24.00"), (1, 60, "1.00"),
    ],
)
def test_billable_hours_examples(minutes: int, rounding: int, expected: str) -> None:
    assert str(billable_hours(minutes, rounding)) == expected


@pytest.mark.parametrize("rounding", ROUNDING_SETTINGS)
def test_two_decimal_hours_are_within_half_a_hundredth_of_the_rounded_minutes(rounding: int) -> None:
    # 10-minute rounding cannot be exact in hours (20 min = 0.333 h); the error stays under 18 seconds.
    for minutes in range(1, 24 * 60 + 1):
        rounded_minutes = -(-minutes // rounding) * rounding
        assert abs(billable_hours(minutes, rounding) * 60 - rounded_minutes) <= Decimal("0.3")


@pytest.mark.parametrize(("minutes", "rounding"), [(0, 15), (-5, 15), (30, 0), (30, -15)])
def test_billable_hours_refuses_nothing_to_bill(minutes: int, rounding: int) -> None:
    with pytest.raises(ValueError):
        billable_hours(minutes, rounding)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1.5", "1.50"), ("1,5", "1.50"), (" 2 ", "2.00"), ("0.25", "0.25"), ("0,01", "0.01"), (".5", "0.50"),
        (",75", "0.75"), ("24", "24.00"), ("24.00", "24.00"), ("1.500", "1.50"), ("8", "8.00"),
        ("1:30", "1.50"), ("0:20", "0.33"), ("0:01", "0.02"), ("24:00", "24.00"), ("07:45", "7.75"),
        ("\t3,25\n", "3.25"),
    ],
)
def test_parse_hours_accepts(typed: str, expected: str) -> None:
    hours = parse_hours(typed)
    assert isinstance(hours, Decimal)
    assert str(hours) == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("abc", "'abc' is not a number of hours"),
        ("", "Type the billable hours"),
        ("   ", "Type the billable hours"),
        ("0", "Billable hours must be more than 0"),
        ("0,00", "Billable hours must be more than 0"),
        ("-1", "Billable hours must be more than 0"),
        ("-1.234", "Billable hours must be more than 0"),
        ("0:00", "Billable hours must be more than 0"),
        ("24.01", "at most 24"),
        ("25", "at most 24"),
        ("24:01", "at most 24"),
        ("99:00", "at most 24"),
        ("1.234", "at most 2 decimals, e.g. 1.25"),
        ("1,255", "at most 2 decimals, e.g. 1.25"),
        ("0.001", "at most 2 decimals, e.g. 1.25"),
        ("1:75", "minutes go from 00 to 59"),
        ("1:5", "'1:5' is not a number of hours"),
        ("1.000,50", "is not a number of hours"),
        ("1,000.50", "is not a number of hours"),
        ("1e1", "is not a number of hours"),
        ("nan", "is not a number of hours"),
        ("Infinity", "is not a number of hours"),
        ("+1", "is not a number of hours"),
        ("1..5", "is not a number of hours"),
        ("1 5", "is not a number of hours"),
        ("1.", "is not a number of hours"),
        ("١", "is not a number of hours"),  # an Arabic-Indic digit: Decimal would take it, a Dane did not mean it
        ("1 h", "is not a number of hours"),
        ("[b]2[/b]", "is not a number of hours"),
    ],
)
def test_parse_hours_rejects_with_a_message(typed: str, message: str) -> None:
    with pytest.raises(InvalidHours) as caught:
        parse_hours(typed)
    assert message in caught.value.message
    assert str(caught.value) == caught.value.message


def test_parse_hours_keeps_a_pasted_paragraph_out_of_the_message() -> None:
    with pytest.raises(InvalidHours) as caught:
        parse_hours("x" * 5000)
    assert len(caught.value.message) < 100


def test_parse_hours_never_raises_anything_but_invalid_hours() -> None:
    alphabet = "0123456789.,:-+ eEnaif_\u00a0١"
    generator = random.Random(5)
    for _ in range(3000):
        typed = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 7)))
        try:
            hours = parse_hours(typed)
        except InvalidHours:
            continue
        assert Decimal(0) < hours <= 24 and hours.as_tuple().exponent == -2, typed


@pytest.mark.parametrize(
    ("hours", "rate", "expected"),
    [
        ("1.17", "850", "994.50"), ("0.33", "333.33", "110.00"), ("0.25", "0.02", "0.01"),
        ("1.75", "999.99", "1749.98"), ("24.00", "1250.00", "30000.00"), ("0.01", "0.49", "0.00"),
        ("0.01", "0.50", "0.01"), ("2.50", "0", "0.00"),
    ],
)
def test_line_amount_rounds_half_up_to_cents(hours: str, rate: str, expected: str) -> None:
    assert str(line_amount(Decimal(hours), Decimal(rate))) == expected


@pytest.mark.parametrize(
    ("customer_rate", "default_rate", "expected"),
    [(None, "850.00", "850.00"), ("950", "850.00", "950.00"), ("0", "850.00", "0.00"), (None, "0", "0.00"),
     ("1.005", "850", "1.01")],
)
def test_effective_rate_prefers_the_customers_own_rate(
    customer_rate: str | None, default_rate: str, expected: str
) -> None:
    rate = effective_rate(None if customer_rate is None else Decimal(customer_rate), Decimal(default_rate))
    assert str(rate) == expected


def test_effective_rate_refuses_negative_rates() -> None:
    with pytest.raises(ValueError):
        effective_rate(Decimal("-1"), Decimal("850"))


def _entry(entry_id: int, day: date, description: str = "Support", hours: str = "1.00",
           case: str | None = None) -> EntryForBilling:
    return EntryForBilling(entry_id, day, description, Decimal(hours), case)


def test_order_lines_one_per_entry_in_date_then_id_order() -> None:
    entries = [
        _entry(7, date(2026, 1, 22), "Printer setup", "0.50", case="CC123"),
        _entry(9, date(2026, 1, 21), "Mail migration", "1.75"),
        _entry(3, date(2026, 1, 22), "VPN for new employee", "1.17"),
    ]
    lines = build_order_lines(entries, Decimal("850"))
    assert lines == [
        OrderLineDraft(1, "21.01.2026 Mail migration", Decimal("1.75"), Decimal("850.00"), Decimal("1487.50"), 9),
        OrderLineDraft(2, "22.01.2026 VPN for new employee", Decimal("1.17"), Decimal("850.00"),
                       Decimal("994.50"), 3),
        OrderLineDraft(3, "22.01.2026 Printer setup (case CC123)", Decimal("0.50"), Decimal("850.00"),
                       Decimal("425.00"), 7),
    ]
    assert order_total(lines) == Decimal("2907.00")


@pytest.mark.parametrize(
    ("description", "case", "expected"),
    [
        ("  Printer setup \n", None, "05.03.2026 Printer setup"),
        ("", None, "05.03.2026"),
        ("", "CC9", "05.03.2026 (case CC9)"),
        ("Follow-up on CC9", "CC9", "05.03.2026 Follow-up on CC9"),
        ("Reset password", "  ", "05.03.2026 Reset password"),
        ("Linje 1\nLinje 2", None, "05.03.2026 Linje 1\nLinje 2"),
    ],
)
def test_order_line_description(description: str, case: str | None, expected: str) -> None:
    [line] = build_order_lines([_entry(1, date(2026, 3, 5), description, case=case)], Decimal("1"))
    assert line.description == expected


@pytest.mark.parametrize("filler", ["x", "æ", "🙂"])
def test_order_line_description_fits_economics_2500_characters(filler: str) -> None:
    [line] = build_order_lines([_entry(1, date(2026, 3, 5), filler * 3000, case="CC1")], Decimal("1"))
    assert len(line.description.encode("utf-16-le")) // 2 <= LINE_DESCRIPTION_MAX
    assert line.description.startswith("05.03.2026 " + filler * 10)
    assert line.description.endswith(filler + "…")


def test_a_short_description_is_never_cut() -> None:
    text = "x" * (LINE_DESCRIPTION_MAX - len("05.03.2026 "))
    [line] = build_order_lines([_entry(1, date(2026, 3, 5), text)], Decimal("1"))
    assert line.description == "05.03.2026 " + text


def test_order_lines_need_entries_with_hours() -> None:
    with pytest.raises(ValueError):
        build_order_lines([], Decimal("850"))
    with pytest.raises(ValueError):
        build_order_lines([_entry(1, date(2026, 1, 1), hours="0")], Decimal("850"))


def test_order_total_of_many_lines_is_exact() -> None:
    generator = random.Random(2026)
    entries = [
        _entry(i, date(2026, 1, 1 + i % 28), hours=str(billable_hours(generator.randint(1, 600),
                                                                      generator.choice(ROUNDING_SETTINGS))))
        for i in range(1, 2001)
    ]
    rate = Decimal("987.65")
    lines = build_order_lines(entries, rate)
    expected_cents = sum(_half_up_cents(Fraction(entry.billable_hours) * Fraction(rate)) for entry in entries)
    total = order_total(lines)
    assert isinstance(total, Decimal)
    assert total == expected_cents
    assert total.as_tuple().exponent == -2
    assert [line.line_number for line in lines] == list(range(1, 2001))
    # Rounding each line (as the invoice shows it) is not rounding the sum: the total follows the lines.
    assert total == sum(line.amount for line in lines)


def test_order_total_of_cents_that_floats_get_wrong() -> None:
    lines = [OrderLineDraft(n, "x", Decimal("1"), Decimal("0.10"), Decimal("0.10")) for n in range(1, 11)]
    assert order_total(lines) == Decimal("1.00")
    assert str(order_total([])) == "0.00"


@pytest.mark.parametrize(
    ("year", "sequence", "expected"),
    [(2026, 1, "ORD-2026-001"), (2026, 42, "ORD-2026-042"), (2026, 999, "ORD-2026-999"),
     (2026, 1000, "ORD-2026-1000"), (2027, 12345, "ORD-2027-12345")],
)
def test_order_number(year: int, sequence: int, expected: str) -> None:
    assert order_number(year, sequence) == expected


@pytest.mark.parametrize(("year", "sequence"), [(2026, 0), (2026, -1), (26, 1), (20260, 1)])
def test_order_number_refuses_impossible_numbers(year: int, sequence: int) -> None:
    with pytest.raises(ValueError):
        order_number(year, sequence)


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "ORD-2026-001"),
        (["ORD-2026-001", "ORD-2026-002"], "ORD-2026-003"),
        (["ORD-2026-007", "ORD-2026-003"], "ORD-2026-008"),
        (["ORD-2025-041", "ORD-2027-005"], "ORD-2026-001"),
        (["ORD-2026-999"], "ORD-2026-1000"),
        (["ORD-2026-1000", "ORD-2026-999"], "ORD-2026-1001"),  # numbers, not strings: "999" > "1000"
        (["ORD-2026-01", "ORD-2026-abc", "12345", "", "ORD-2026-004-x", "ORD-2026-002"], "ORD-2026-003"),
    ],
)
def test_next_order_number(existing: list[str], expected: str) -> None:
    assert next_order_number(existing, 2026) == expected
    assert next_order_number(iter(existing), 2026) == expected  # any iterable, e.g. a query result
