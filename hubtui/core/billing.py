"""Billable time and money: reading a time entry's duration and billable flag, rounding worked minutes to
billable hours, reading hours a support person typed, order lines, totals and hubtui's order numbers.

Money and hours are `Decimal` with two decimals throughout, rounded half up (the way Danish invoices
round øre); a float never touches an amount here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
MAX_HOURS_PER_ENTRY = Decimal(24)
MAX_MINUTES = 24 * 60  # one timelog covers one day; more is a unit mistake (seconds?), not work done
# e-conomic's limit for an order line's description (orders.drafts.post.schema.json).
LINE_DESCRIPTION_MAX = 2500
ORDER_NUMBER_PREFIX = "ORD"

_DECIMAL_HOURS = re.compile(r"(?P<sign>-?)(?P<number>[0-9]+(?:[.,][0-9]+)?|[.,][0-9]+)")
# hours:minutes, for durations in minutes ("1:30" = 90) and for hours typed in the wizard ("1:30" = 1.50 h).
_CLOCK = re.compile(r"(?P<hours>[0-9]{1,2}):(?P<minutes>[0-9]{2})")
_ORDER_NUMBER = re.compile(rf"{ORDER_NUMBER_PREFIX}-(?P<year>[0-9]{{4}})-(?P<sequence>[0-9]{{3,}})")


def money(value: Decimal) -> Decimal:
    """An amount with exactly two decimals, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_minutes(raw: object) -> tuple[int | None, str | None]:
    """A duration in minutes (`"90"`, `"90.0"`, `"90,5"`, `"1:30"`) as (minutes, None) or (None, problem)."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None, "no duration"
    clock = _CLOCK.fullmatch(text)
    if clock and int(clock["minutes"]) < 60:
        minutes = int(clock["hours"]) * 60 + int(clock["minutes"])
    else:
        try:
            value = Decimal(text.replace(",", "."))
        except InvalidOperation:
            return None, f"duration '{text}' is not a number of minutes"
        if not value.is_finite():
            return None, f"duration '{text}' is not a number of minutes"
        minutes = int(value.to_integral_value(rounding=ROUND_HALF_UP))
    if not 1 <= minutes <= MAX_MINUTES:
        return None, f"duration '{text}' is not between 1 and {MAX_MINUTES} minutes"
    return minutes, None


def truthy(value: object) -> bool:
    """A vTiger checkbox such as a timelog's billable flag ("1", "yes", "true", "on", any case) as a bool."""
    return str(value).strip().lower() in {"1", "yes", "true", "on"}


def minutes_as_hours(minutes: int) -> Decimal:
    """Minutes as hours with two decimals, half up: 70 min → 1.17 h, 20 min → 0.33 h, 1 min → 0.02 h.

    Only rounding settings that divide an hour into quarters or halves (15, 30, 60) give exact hours;
    for the others (e.g. 10 minutes) this is the one place the second decimal is decided, so the wizard,
    the order lines and e-conomic all show the same number.
    """
    return money(Decimal(minutes) / 60)


def billable_hours(duration_minutes: int, rounding_minutes: int) -> Decimal:
    """Worked minutes rounded UP to the next multiple of `rounding_minutes`, as hours with two decimals.

    95 min at 15 → 105 min → 1.75 h; 60 → 1.00; 1 → 0.25; 70 min at 10 → 70 min → 1.17 h. A time entry of
    zero or negative minutes has nothing to bill, so it is an error rather than 0.00 h.
    """
    if rounding_minutes < 1:
        raise ValueError(f"rounding must be at least 1 minute, got {rounding_minutes}")
    if duration_minutes <= 0:
        raise ValueError(f"a time entry needs a positive duration to be billed, got {duration_minutes} minutes")
    # Ceiling division in integers: no float, no Decimal context involved.
    rounded_minutes = -(-duration_minutes // rounding_minutes) * rounding_minutes
    return minutes_as_hours(rounded_minutes)


class InvalidHours(ValueError):
    """Hours a support person typed that cannot be billed; `message` is shown as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_hours(text: str) -> Decimal:
    """Billable hours typed in the wizard's edit field, as a `Decimal` with two decimals.

    Accepted: "1.5" and "1,5" (Danish decimal comma), "1.25", ".5", and clock time "1:30" (hours:minutes,
    minutes 00-59), which is converted like a duration (1:20 → 1.33). Surrounding spaces are ignored.
    The value must be more than 0 and at most 24 and, written as a decimal, have at most two decimals
    ("1.500" is fine: it is 1.5). Thousands separators, signs other than a leading minus, exponents and
    "nan"/"inf" are not hours. Anything else raises `InvalidHours` with a message saying what to type.
    """
    typed = text.strip()
    if not typed:
        raise InvalidHours("Type the billable hours, e.g. 1.5, 1,5 or 1:30")
    clock = _CLOCK.fullmatch(typed)
    if clock:
        hours = _clock_hours(typed, int(clock["hours"]), int(clock["minutes"]))
    else:
        hours = _decimal_hours(typed)
    if hours <= 0:
        raise InvalidHours("Billable hours must be more than 0")
    if hours > MAX_HOURS_PER_ENTRY:
        raise InvalidHours(f"Billable hours can be at most {MAX_HOURS_PER_ENTRY} for one entry")
    return money(hours)


def _clock_hours(typed: str, hours: int, minutes: int) -> Decimal:
    if minutes > 59:
        raise InvalidHours(f"{_quoted(typed)} has {minutes} minutes: minutes go from 00 to 59, e.g. 1:30")
    return minutes_as_hours(hours * 60 + minutes)


def _decimal_hours(typed: str) -> Decimal:
    match = _DECIMAL_HOURS.fullmatch(typed)
    if not match:
        raise InvalidHours(f"{_quoted(typed)} is not a number of hours; type e.g. 1.5, 1,5 or 1:30")
    try:
        hours = Decimal(match["sign"] + match["number"].replace(",", "."))
    except InvalidOperation:  # the pattern admits only digits and one separator; kept as a last guard
        raise InvalidHours(f"{_quoted(typed)} is not a number of hours; type e.g. 1.5, 1,5 or 1:30") from None
    # Checked before the decimals so "-1.234" gets the more useful message.
    if hours <= 0:
        raise InvalidHours("Billable hours must be more than 0")
    if decimal_places(hours) > 2:
        raise InvalidHours("Billable hours can have at most 2 decimals, e.g. 1.25")
    return hours


def decimal_places(value: Decimal) -> int:
    """Decimals that count: 1.500 has 1, 12.345 has 3, 100 has 0 (the two-decimal rules use it)."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _quoted(typed: str) -> str:
    # The message goes in a one-line notice: a pasted paragraph must not flood it.
    shown = typed if len(typed) <= 20 else typed[:19] + "…"
    return f"'{shown}'"


def line_amount(hours: Decimal, rate: Decimal) -> Decimal:
    """What one order line costs: hours × hourly rate, two decimals, half up (1.17 h × 850 = 994.50)."""
    return money(hours * rate)


def effective_rate(customer_rate: Decimal | None, default_rate: Decimal) -> Decimal:
    """The hourly rate to bill a customer: their own rate, or `TIMETRACKING_DEFAULT_RATE` when they have none.

    A customer rate of 0.00 is a deliberate "we do not charge this customer" and is kept; only a missing
    rate (None) falls back to the default.
    """
    rate = default_rate if customer_rate is None else customer_rate
    if rate < 0:
        raise ValueError(f"an hourly rate cannot be negative, got {rate}")
    return money(rate)


@dataclass(frozen=True, slots=True)
class EntryForBilling:
    """An approved time entry as an order needs it (`billable_hours` already rounded or edited)."""

    id: int
    work_date: date
    description: str
    billable_hours: Decimal
    related_case: str | None = None


@dataclass(frozen=True, slots=True)
class OrderLineDraft:
    """One line of an order before it is stored or exported: one approved time entry."""

    line_number: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    time_entry_id: int | None = None


def line_description(entry: EntryForBilling) -> str:
    """"21.01.2026 Printer setup (case CC123)": the date first, as the customer reads the invoice."""
    parts = [f"{entry.work_date:%d.%m.%Y}"]
    description = entry.description.strip()
    if description:
        parts.append(description)
    case = (entry.related_case or "").strip()
    # A description that already names the case would say it twice on the invoice.
    if case and case not in description:
        parts.append(f"(case {case})")
    return truncate_for_economic(" ".join(parts), LINE_DESCRIPTION_MAX)


def truncate_for_economic(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters as e-conomic counts them, ending in "…" when cut.

    e-conomic counts UTF-16 code units (an emoji is two), so a limit counted in Python characters
    could still be refused; a surrogate pair is never split.
    """
    if _utf16_length(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for character in text:
        width = _utf16_length(character)
        if used + width > limit - 1:  # room for the ellipsis
            break
        kept.append(character)
        used += width
    return "".join(kept) + "…"


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def build_order_lines(entries: Sequence[EntryForBilling], rate: Decimal) -> list[OrderLineDraft]:
    """One line per entry at the customer's hourly `rate`, in date order (then entry id, so the order is
    the same every time it is built), numbered from 1."""
    if not entries:
        raise ValueError("an order needs at least one approved time entry")
    unit_price = money(rate)
    lines = []
    for line_number, entry in enumerate(sorted(entries, key=lambda e: (e.work_date, e.id)), start=1):
        if entry.billable_hours <= 0:
            raise ValueError(f"time entry {entry.id} has {entry.billable_hours} billable hours; bill more than 0")
        quantity = money(entry.billable_hours)
        lines.append(OrderLineDraft(
            line_number=line_number,
            description=line_description(entry),
            quantity=quantity,
            unit_price=unit_price,
            amount=line_amount(quantity, unit_price),
            time_entry_id=entry.id,
        ))
    return lines


def order_total(lines: Iterable[OrderLineDraft]) -> Decimal:
    """The order's total excluding VAT: the sum of the line amounts (each already rounded, as on the invoice)."""
    return money(sum((line.amount for line in lines), Decimal("0.00")))


def order_number(year: int, sequence: int) -> str:
    """hubtui's order number: ORD-2026-001; the sequence has at least three digits and grows past 999."""
    if not 1000 <= year <= 9999:
        raise ValueError(f"an order year has four digits, got {year}")
    if sequence < 1:
        raise ValueError(f"order sequence numbers start at 1, got {sequence}")
    return f"{ORDER_NUMBER_PREFIX}-{year}-{sequence:03d}"


def next_order_number(existing: Iterable[str], year: int) -> str:
    """The next free order number in `year`: one more than the highest of that year, or ...-001.

    Compared as numbers (ORD-2026-1000 comes after ORD-2026-999). Numbers of other years and strings
    that are not hubtui order numbers are ignored. Two people generating at once can still pick the same
    number; the store's unique constraint on `order_number` decides, and the loser asks again.
    """
    highest = 0
    for number in existing:
        match = _ORDER_NUMBER.fullmatch(number.strip())
        if match and int(match["year"]) == year:
            highest = max(highest, int(match["sequence"]))
    return order_number(year, highest + 1)
