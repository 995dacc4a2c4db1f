"""VTQL, the SQL-like query language of vTiger's `query` operation: the subset clients use, parsed into a
`Query` whose `where` is a predicate over a record's fields.
"""

from __future__ import annotations

import html
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hubtui.sandbox.vtiger.modules import record_number
from hubtui.sandbox.vtiger.protocol import VtigerError

MAX_QUERY_ROWS = 100  # vTiger Cloud answers a query with 100 rows at most

Row = Mapping[str, str]
Predicate = Callable[[Row], bool]


@dataclass
class Query:
    module: str
    fields: list[str] | None  # None: select *
    count: bool
    where: Predicate | None
    where_fields: set[str]
    order: list[tuple[str, bool]]  # (field, descending)
    offset: int
    limit: int


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),;*])
""", re.VERBOSE)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            snippet = text[position:position + 15]
            message = ("unterminated string literal" if text[position] == "'"
                       else f"unexpected character at '{snippet}'")
            raise VtigerError("QUERY_SYNTAX_ERROR", f"Syntax Error on line 1: {message}")
        kind = match.lastgroup or ""
        if kind != "space":
            value = match.group()
            if kind == "string":
                value = value[1:-1].replace("''", "'")
            tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the VTQL subset clients use (vtiger's own grammar is VTQL_Parser.y)."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0
        self.where_fields: set[str] = set()

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "name" and value.lower() in words:
            self.position += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            self.fail(f"expected '{word}'")

    def expect(self, kind: str, value: str | None = None) -> str:
        token_kind, token_value = self.peek()
        if token_kind != kind or (value is not None and token_value != value):
            self.fail(f"expected {value or kind}")
        self.position += 1
        return token_value

    def fail(self, message: str) -> None:
        _, value = self.peek()
        found = f"'{value}'" if value else "end of query"
        raise VtigerError("QUERY_SYNTAX_ERROR", f"Syntax Error on line 1: {message}, found {found}")

    def parse(self) -> Query:
        self.expect_keyword("select")
        fields: list[str] | None = []
        count = False
        if self.peek() == ("punct", "*"):
            self.position += 1
            fields = None
        elif self.keyword("count"):
            self.expect("punct", "(")
            self.expect("punct", "*")
            self.expect("punct", ")")
            count, fields = True, None
        else:
            fields = [self.expect("name")]
            while self.peek() == ("punct", ","):
                self.position += 1
                fields.append(self.expect("name"))
        self.expect_keyword("from")
        module = self.expect("name")
        where = self.parse_or() if self.keyword("where") else None
        order: list[tuple[str, bool]] = []
        if self.keyword("order"):
            self.expect_keyword("by")
            while True:
                name = self.expect("name")
                descending = self.keyword("desc")
                if not descending:
                    self.keyword("asc")
                order.append((name, descending))
                if self.peek() != ("punct", ","):
                    break
                self.position += 1
        offset, limit = 0, MAX_QUERY_ROWS
        if self.keyword("limit"):
            first = int(float(self.expect("number")))
            if self.peek() == ("punct", ","):
                self.position += 1
                offset, limit = first, int(float(self.expect("number")))
            else:
                limit = first
        self.expect("punct", ";")
        if self.position != len(self.tokens):
            self.fail("unexpected text after ';'")
        # vtiger Cloud never returns more than 100 rows, whatever the query asks for.
        limit = max(0, min(limit, MAX_QUERY_ROWS))
        return Query(module, fields, count, where, self.where_fields, order, max(0, offset), limit)

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.keyword("or"):
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda row: any(part(row) for part in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_atom()]
        while self.keyword("and"):
            parts.append(self.parse_atom())
        return parts[0] if len(parts) == 1 else (lambda row: all(part(row) for part in parts))

    def parse_atom(self) -> Predicate:
        if self.peek() == ("punct", "("):
            self.position += 1
            inner = self.parse_or()
            self.expect("punct", ")")
            return inner
        name = self.expect("name")
        self.where_fields.add(name)
        negate = self.keyword("not")
        if self.keyword("in"):
            self.expect("punct", "(")
            values = [self.value()]
            while self.peek() == ("punct", ","):
                self.position += 1
                values.append(self.value())
            self.expect("punct", ")")
            test = _membership(name, values)
        elif self.keyword("like"):
            test = _likeness(name, self.value())
        elif negate:
            self.fail("expected 'in' or 'like' after 'not'")
            raise AssertionError  # fail() always raises
        else:
            op = self.expect("op")
            test = _comparison(name, op, self.value())
        return (lambda row: not test(row)) if negate else test

    def value(self) -> str:
        kind, value = self.peek()
        if kind not in {"string", "number"}:
            self.fail("expected a quoted value")
        self.position += 1
        return value


def _variants(value: str) -> tuple[str, ...]:
    """The stored text and, when it is HTML-encoded, the decoded text: a query matches either."""
    return (value, html.unescape(value)) if "&" in value else (value,)


def _membership(name: str, values: list[str]) -> Predicate:
    wanted = {v.casefold() for v in values}
    return lambda row: any(v.casefold() in wanted for v in _variants(row.get(name, "")))


def _likeness(name: str, pattern: str) -> Predicate:
    """SQL LIKE: % any run, _ one character; case-insensitive like vtiger's MySQL collation."""
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    compiled = re.compile(regex, re.IGNORECASE | re.DOTALL)
    return lambda row: any(compiled.fullmatch(v) for v in _variants(row.get(name, "")))


def _comparison(name: str, op: str, wanted: str) -> Predicate:
    if name == "id":
        return _id_comparison(op, wanted)
    folded = wanted.casefold()
    if op in {"=", "!=", "<>"}:
        def equal(row: Row) -> bool:
            value = row.get(name, "")
            if value.casefold() == folded:
                return True
            return "&" in value and html.unescape(value).casefold() == folded

        return equal if op == "=" else (lambda row: not equal(row))
    compare = _ORDERING[op]
    number = _as_number(wanted)
    if number is None:
        # Text and timestamps (their format sorts as text): no number parsing per row, it runs for every row.
        return lambda row: compare(row.get(name, "").casefold(), folded)

    def ordered(row: Row) -> bool:
        value = row.get(name, "")
        mine = _as_number(value)
        return compare(mine, number) if mine is not None else compare(value.casefold(), folded)

    return ordered


def _id_comparison(op: str, wanted: str) -> Predicate:
    if op in {"=", "!=", "<>"}:
        equal = op == "="
        return lambda row: (row.get("id") == wanted) == equal
    target = record_number(wanted)
    compare = _ORDERING[op]
    return lambda row: compare(record_number(row.get("id", "")), target)


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
}


def _as_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def parse_query(text: str) -> Query:
    return _Parser(text.strip()).parse()
