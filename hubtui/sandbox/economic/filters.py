"""e-conomic's `filter=` language (`name$eq:Joe$and:(city$like:*port$or:zip$in:[8000,8200])`) and the
sort order of `sort=`, over customers and draft orders alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from hubtui.sandbox.economic.errors import EconomicError

Doc = Mapping[str, Any]
Predicate = Callable[[Doc], bool]

_OPERATOR = re.compile(r"\$(eq|ne|gte|gt|lte|lt|like|in|nin|null):")
_SPECIAL = frozenset("$()*,[]")


class FilterParser:
    """e-conomic's filter language: `name$eq:Joe$and:(city$like:*port$or:zip$in:[8000,8200])`."""

    def __init__(self, text: str, types: Mapping[str, str]) -> None:
        self.text, self.types, self.position = text, types, 0

    def fail(self, why: str) -> EconomicError:
        return EconomicError(400, f"The filter is invalid: {why}.", "E00310",
                             "See https://restdocs.e-conomic.com/#filtering for the filter syntax.")

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        if self.position != len(self.text):
            raise self.fail(f"unexpected text at position {self.position}")
        return predicate

    def at(self, word: str) -> bool:
        if self.text.startswith(word, self.position):
            self.position += len(word)
            return True
        return False

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.at("$or:"):
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_atom()]
        while self.at("$and:"):
            parts.append(self.parse_atom())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def parse_atom(self) -> Predicate:
        if self.at("("):
            inner = self.parse_or()
            if not self.at(")"):
                raise self.fail("missing ')'")
            return inner
        match = re.compile(r"[A-Za-z][A-Za-z0-9.]*").match(self.text, self.position)
        if match is None:
            raise self.fail(f"expected a property name at position {self.position}")
        name = match.group()
        self.position = match.end()
        if name not in self.types:
            raise self.fail(f"'{name}' cannot be filtered on")
        operator = _OPERATOR.match(self.text, self.position)
        if operator is None:
            raise self.fail(f"expected an operator after '{name}'")
        self.position = operator.end()
        op = operator.group(1)
        if op in {"in", "nin"}:
            if not self.at("["):
                raise self.fail(f"${op}: needs a [list]")
            values = [self.value(stop=",]")]
            while self.at(","):
                values.append(self.value(stop=",]"))
            if not self.at("]"):
                raise self.fail("missing ']'")
            return _compare(name, self.types[name], op, [v for v, _ in values])
        raw, wildcards = self.value(stop="")
        return _compare(name, self.types[name], op, raw, wildcards)

    def value(self, stop: str) -> tuple[str, list[bool]]:
        """Read up to the next operator/`)`/stop char; `$x` escapes x. Returns text + which chars are `*`."""
        chars: list[str] = []
        wild: list[bool] = []
        text = self.text
        while self.position < len(text):
            ch = text[self.position]
            if ch == "$":
                following = text[self.position + 1:self.position + 2]
                if following and following in _SPECIAL:
                    chars.append(following)
                    wild.append(False)
                    self.position += 2
                    continue
                break  # an operator such as $and: ends the value
            if ch == ")" or ch in stop:
                break
            if ch in "([]," and ch not in stop:
                raise self.fail(f"'{ch}' must be escaped as '${ch}'")
            chars.append(ch)
            wild.append(ch == "*")
            self.position += 1
        return "".join(chars), wild


def lookup(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _typed(kind: str, raw: str) -> Any:
    if kind == "int":
        return int(raw)
    if kind == "number":
        return Decimal(raw)
    if kind == "bool":
        if raw.lower() not in {"true", "false"}:
            raise ValueError(raw)
        return raw.lower() == "true"
    if kind == "datetime" and len(raw) == 10:
        return f"{raw}T00:00:00Z"
    if kind == "datetime" and not raw.endswith("Z"):
        return f"{raw}Z"
    return raw


def _compare(name: str, kind: str, op: str, raw: Any, wildcards: list[bool] | None = None) -> Predicate:
    if op == "null":
        wanted_null = str(raw).lower() in {"", "true"}
        return lambda doc: (lookup(doc, name) in (None, "")) == wanted_null
    try:
        wanted = [_typed(kind, v) for v in raw] if isinstance(raw, list) else _typed(kind, raw)
    except (ValueError, InvalidOperation):
        raise EconomicError(400, f"The filter is invalid: '{raw}' is not a valid value for {name}.",
                            "E00310", "Check the type of the property you filter on.") from None
    folded = kind == "str"

    def norm(value: Any) -> Any:
        if folded and isinstance(value, str):
            return value.casefold()
        if kind == "number" and value is not None and not isinstance(value, Decimal):
            return Decimal(str(value))
        if kind == "bool" and value is None:
            return False  # e-conomic leaves false booleans out
        return value

    if op == "like":
        marks = wildcards or []
        regex = "".join(".*" if wild else re.escape(ch) for ch, wild in zip(raw, marks, strict=True))
        if not any(wildcards or []):
            regex = f".*{regex}.*"  # without * it means "contains"
        pattern = re.compile(regex, re.IGNORECASE | re.DOTALL)
        return lambda doc: pattern.fullmatch(str(lookup(doc, name) or "")) is not None
    if op in {"in", "nin"}:
        members = {norm(v) for v in wanted}
        inside = op == "in"
        return lambda doc: (norm(lookup(doc, name)) in members) == inside
    target = norm(wanted)
    test = _TESTS[op]

    def predicate(doc: Doc) -> bool:
        value = norm(lookup(doc, name))
        if value is None:
            return op == "ne"
        return test(value, target)

    return predicate


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}


def sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.casefold())
    return (2, value)
