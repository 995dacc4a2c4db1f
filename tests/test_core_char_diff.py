"""The characters the diff screen marks: those the consistency check sees differ, in the value as shown."""

from __future__ import annotations

import pytest

from hubtui.core.char_diff import char_diff, highlights


def marked(value: str, spans: tuple[tuple[int, int], ...]) -> list[str]:
    return [value[start:end] for start, end in spans]


def test_the_one_differing_digit_is_marked_on_both_sides() -> None:
    first, second = char_diff("address", "Møllevej 10", "Møllevej 17")
    assert marked("Møllevej 10", first) == ["0"]
    assert marked("Møllevej 17", second) == ["7"]


@pytest.mark.parametrize(("field", "first", "second"), [
    pytest.param("address", "Møllevej 10", "MØLLEVEJ  10", id="case-and-spacing"),
    pytest.param("phone", "+45 52 51 20 36", "52512036", id="phone-prefix-and-spaces"),
    pytest.param("website", "https://www.blaa.dk/", "www.blaa.dk", id="scheme-and-slash"),
    pytest.param("cvr_number", "DK-53 89 36 72", "53893672", id="cvr-prefix"),
    pytest.param("invoice_email", "b@x.dk; a@x.dk", "a@x.dk,b@x.dk", id="email-order"),
    pytest.param("country", "Danmark", "DK", id="country-alias"),
    pytest.param("name", "A &amp; B", "A & B", id="entities"),
])
def test_a_format_only_difference_marks_nothing(field: str, first: str, second: str) -> None:
    assert char_diff(field, first, second) == ((), ())


def test_format_noise_around_a_real_difference_stays_unmarked() -> None:
    # Only the last two digits differ; the +45, the spaces and the country prefix are format.
    first, second = char_diff("phone", "+45 52 51 20 36", "52512047")
    assert marked("+45 52 51 20 36", first) == ["36"]
    assert marked("52512047", second) == ["47"]
    first, second = char_diff("website", "https://www.blaa.dk/", "www.bla.dk")
    assert marked("https://www.blaa.dk/", first) == ["a"]
    assert second == ()


def test_case_is_marked_where_the_check_keeps_case() -> None:
    # A field without a rule compares case-sensitively, so a changed letter case is a real difference.
    first, second = char_diff("unknown", "ABC", "AbC")
    assert marked("ABC", first) == ["B"] and marked("AbC", second) == ["b"]


def test_an_added_word_and_an_empty_value() -> None:
    first, second = char_diff("name", "Blå Montage ApS", "Blå Montage & Sønner ApS")
    assert first == ()
    assert marked("Blå Montage & Sønner ApS", second) == ["& Sønner"]
    assert marked("Møllevej 10", char_diff("address", "Møllevej 10", None)[0]) == ["Møllevej 10"]
    assert char_diff("address", None, "") == ((), ())


def test_a_character_that_folds_to_two_is_marked_once() -> None:
    first, second = char_diff("name", "Straße 1", "Strasse 2")
    assert marked("Straße 1", first) == ["1"] and marked("Strasse 2", second) == ["2"]


def test_highlights_against_the_chosen_value() -> None:
    values = {"hub": "Møllevej 10", "vtiger": "Møllevej 17", "economic": "møllevej 10"}
    spans = highlights("address", values, "hub")
    assert marked(values["vtiger"], spans["vtiger"]) == ["7"]
    assert spans["economic"] == ()  # only case differs
    assert marked(values["hub"], spans["hub"]) == ["0"]  # what vTiger lacks, shown on the chosen side
    apart = highlights("address", {"hub": "Vej 12 A", "vtiger": "Vej 92 B"}, "vtiger")
    assert marked("Vej 12 A", apart["hub"]) == ["1", "A"]
    assert marked("Vej 92 B", apart["vtiger"]) == ["9", "B"]


def test_highlights_a_shorter_value_marks_the_reference_and_an_empty_one_does_not() -> None:
    values = {"hub": "Møllevej 10", "vtiger": "Møllevej 1", "economic": None}
    spans = highlights("address", values, "hub")
    assert spans["vtiger"] == () and spans["economic"] == ()
    assert marked(values["hub"], spans["hub"]) == ["0"]
