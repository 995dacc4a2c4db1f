"""The small readers that import, connectors and the sandbox share: one copy each, so they agree."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from hubtui.connectors.base import json_or_none
from hubtui.core.billing import MAX_MINUTES, decimal_places, parse_minutes, truthy


@pytest.mark.parametrize(("raw", "minutes"), [
    ("90", 90), (" 90 ", 90), ("90.0", 90), ("90,5", 91), ("1:30", 90), ("0:05", 5), ("24:00", MAX_MINUTES),
    (90, 90),
])
def test_parse_minutes_reads_a_timelog_duration(raw: object, minutes: int) -> None:
    assert parse_minutes(raw) == (minutes, None)


@pytest.mark.parametrize(("raw", "problem"), [
    (None, "no duration"), ("  ", "no duration"),
    ("1:75", "duration '1:75' is not a number of minutes"),  # not a clock time, and not a number either
    ("abc", "duration 'abc' is not a number of minutes"),
    ("Infinity", "duration 'Infinity' is not a number of minutes"),
    ("0:00", "duration '0:00' is not between 1 and 1440 minutes"),
    ("24:01", "duration '24:01' is not between 1 and 1440 minutes"),
    ("-5", "duration '-5' is not between 1 and 1440 minutes"),
])
def test_parse_minutes_names_what_is_wrong(raw: object, problem: str) -> None:
    assert parse_minutes(raw) == (None, problem)


@pytest.mark.parametrize("value", ["1", "yes", " Yes ", "TRUE", "on", 1, True])
def test_truthy_reads_a_ticked_vtiger_checkbox(value: object) -> None:
    assert truthy(value) is True


@pytest.mark.parametrize("value", ["0", "", "no", "false", "off", "2", None, 0, False])
def test_truthy_reads_anything_else_as_not_ticked(value: object) -> None:
    assert truthy(value) is False


@pytest.mark.parametrize(("value", "places"), [
    ("1.500", 1), ("12.345", 3), ("100", 0), ("1E+2", 0), ("0.01", 2), ("-2.50", 1),
])
def test_decimal_places_counts_only_decimals_that_matter(value: str, places: int) -> None:
    assert decimal_places(Decimal(value)) == places


def test_json_or_none_gives_none_for_an_error_page_and_the_body_for_json() -> None:
    page = httpx.Response(502, text="<html><body>Bad gateway</body></html>",
                          headers={"content-type": "text/html"})
    assert json_or_none(page) is None
    assert json_or_none(httpx.Response(400, json={"message": "Validation failed."})) == {
        "message": "Validation failed."}
    assert json_or_none(httpx.Response(500, content=b"")) is None
