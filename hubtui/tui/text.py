"""Turning customer and remote data into something safe to put on a terminal.

Data is never parsed as markup (we build `Text`/`Segment`s, never markup strings), and control
characters are replaced by visible symbols: an ESC byte in a company name must not reach the terminal.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, set_cell_size
from rich.text import Text

# C0 and C1 controls, and the bidirectional controls (U+202A–U+202E, U+2066–U+2069) that would make the
# terminal draw a right-to-left override's text, and everything after it, backwards.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _symbol(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟, e.g. ESC shows as ␛
    return "␡" if code == 0x7F else "�"


def printable(value: object) -> str:
    """The value as one line of plain text with control characters made visible."""
    if value is None:
        return ""
    return _CONTROL.sub(_symbol, str(value))


def literal(value: object, style: str = "") -> Text:
    """A Rich Text that shows `value` literally: no markup, no control characters."""
    return Text(printable(value), style=style, no_wrap=True, overflow="ellipsis")


def fit(text: str, width: int) -> str:
    """Pad or cut `text` to exactly `width` terminal cells, marking a cut with an ellipsis."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"
