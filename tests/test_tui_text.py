"""Remote and customer text is inert on the terminal: no markup, no control or direction characters."""

from __future__ import annotations

import pytest

from hubtui.tui.text import fit, printable


@pytest.mark.parametrize(("raw", "shown"), [
    ("Nord\x1b[2JByg", "Nord␛[2JByg"),
    ("tab\there", "tab␉here"),
    ("bell\x07", "bell␇"),
    ("del\x7f", "del␡"),
    ("c1\x9b31m", "c1�31m"),
    ("evil\u202etxt.exe", "evil�txt.exe"),  # RIGHT-TO-LEFT OVERRIDE
    ("\u202aLRE\u202bRLE\u202cPDF\u202dLRO", "�LRE�RLE�PDF�LRO"),
    ("\u2066isolate\u2067\u2068\u2069", "�isolate���"),
    ("[bold]Søn & Co[/]", "[bold]Søn & Co[/]"),  # text, never markup
    (None, ""),
])
def test_printable_shows_controls_as_visible_symbols(raw: object, shown: str) -> None:
    assert printable(raw) == shown


def test_fit_cuts_with_an_ellipsis_and_pads_to_the_width() -> None:
    assert fit("Møllevej 10", 8) == "Mølleve…"
    assert fit("Kolding", 10) == "Kolding   "
