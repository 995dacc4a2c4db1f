"""Which characters of a value differ from another, as the consistency check sees them.

The values are diffed in their normalised form (see `normalize`), so what the check ignores — case,
spacing, a +45 prefix, an https:// — is never marked; the differing characters are then mapped back
to positions in the value as a system holds it, which is what the screen shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import SequenceMatcher

from hubtui.core.normalize import normalize

Span = tuple[int, int]  # [start, end) in the value as shown


def _folded(text: str) -> tuple[str, list[int]]:
    """`text` case-folded, and per folded character the index in `text` it came from ("ß" gives "ss")."""
    parts = [(part, index) for index, char in enumerate(text) for part in char.casefold()]
    return "".join(part for part, _ in parts), [index for _, index in parts]


def _keyed(field: str, value: str) -> tuple[str, list[int | None]]:
    """The normalised key of `value` and, per key character, the index in `value` it came from (None when
    normalisation made it up, e.g. a decoded entity it cannot be traced to)."""
    key = normalize(field, value)
    raw, raw_origin = _folded(value)
    folded_key, key_origin = _folded(key)
    owners: list[int | None] = [None] * len(key)
    # Aligned case-blind (rules lowercase or uppercase), longest blocks first, so the "5" in a "+45"
    # prefix is not taken for the number's first digit.
    for block in SequenceMatcher(None, raw, folded_key, autojunk=False).get_matching_blocks():
        for offset in range(block.size):
            owners[key_origin[block.b + offset]] = raw_origin[block.a + offset]
    return key, owners


def _kept(owners: list[int | None]) -> set[int]:
    return {index for index in owners if index is not None}


def _spans(indexes: set[int], kept: set[int]) -> tuple[Span, ...]:
    """Runs of `indexes`; two runs apart only by characters the check ignores (not in `kept`, such as the
    space in "& Sønner") are one run."""
    spans: list[Span] = []
    for index in sorted(indexes):
        if spans and not kept.intersection(range(spans[-1][1], index)):
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    return tuple(spans)


def char_diff(field: str, first: str | None, second: str | None) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    """The spans of `first` and of `second` that differ from the other; none when the check finds the two
    values the same (a format-only difference)."""
    first, second = first or "", second or ""
    if normalize(field, first) == normalize(field, second):
        return (), ()
    first_key, first_owners = _keyed(field, first)
    second_key, second_owners = _keyed(field, second)
    in_first: set[int] = set()
    in_second: set[int] = set()
    matcher = SequenceMatcher(None, first_key, second_key, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag == "equal":
            continue
        in_first.update(i for i in first_owners[a_start:a_end] if i is not None)
        in_second.update(i for i in second_owners[b_start:b_end] if i is not None)
    return _spans(in_first, _kept(first_owners)), _spans(in_second, _kept(second_owners))


def highlights(field: str, values: Mapping[str, str | None], reference: str) -> dict[str, tuple[Span, ...]]:
    """Per key of `values`, the spans to mark against the value under `reference` (a key of `values`):
    in every other value what it has that the reference lacks, and in the reference what another value
    lacks (an empty value marks nothing there: "(empty)" says it, and the whole reference lit up would not)."""
    base = values[reference]
    marked: dict[str, tuple[Span, ...]] = {}
    in_reference: set[int] = set()
    for key, value in values.items():
        if key == reference:
            continue
        theirs, ours = char_diff(field, value, base)
        marked[key] = theirs
        if value:
            in_reference.update(i for start, end in ours for i in range(start, end))
    marked[reference] = _spans(in_reference, _kept(_keyed(field, base or "")[1]))
    return marked
