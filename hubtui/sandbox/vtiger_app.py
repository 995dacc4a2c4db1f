"""A local vTiger that answers like vTiger Cloud's REST API and the self-hosted webservice.php.

Both flavours share one in-memory store (`VtigerState`) and one set of operations:

- REST under `/restapi/v1/vtiger/default/<operation>`: HTTP Basic (username + access key), no session.
  200 on success, 400 on failure (401 for bad credentials, 404 for an unknown operation), 429 when the
  flood-control window is used up. Every REST response carries the `X-FloodControl-*` / `X-RateLimit-*`
  headers. Writes are form posts with the record as a JSON string in `element`.
- `/webservice.php`: `getchallenge` then `login` with `accessKey = md5(token + access key)`, then
  `sessionName` on every call. Reads are GET-only, writes POST-only. Always HTTP 200; the error is in the
  envelope (`INVALID_SESSIONID` once sessions are expired or left idle).

Behaviour a connector must cope with, as in the real service:
- queries return at most 100 rows (no `limit` means `limit 100`, bigger limits are cut to 100), and the
  statement must end with `;`; `=`/`like` compare case-insensitively (MySQL collation);
- `update` replaces the record: omitted editable fields are blanked, `accountname` and
  `assigned_user_id` must be present; `revise` is the partial update;
- unknown fields in a write (e.g. `mobile` on Accounts) are silently ignored;
- some stored text is HTML-encoded (`&amp;`, `&quot;`) and is returned that way; `where` matches either
  the stored or the decoded text;
- every write sets `modifiedtime` (`YYYY-MM-DD HH:MM:SS`, UTC); all values are strings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import math
import operator
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from hubtui.sandbox.faults import (
    Admission,
    SandboxMiddleware,
    SandboxState,
    VtigerFaults,
    control_routes,
    json_bytes,
)
from hubtui.sandbox.remote_data import (
    ACCOUNTS_PREFIX,
    CONTACTS_PREFIX,
    HELPDESK_PREFIX,
    SANDBOX_USER_ID,
    TIMELOG_MODULE,
    TIMELOGS_PREFIX,
    USERS_PREFIX,
    RemoteData,
)

REST_PREFIX = "/restapi/v1/vtiger/default"
WEBSERVICE_PATH = "/webservice.php"
VTIGER_USERNAME = "support@sandbox.hubtui.dk"
VTIGER_ACCESS_KEY = "Sbx7hubtuiDemoKy"  # vtiger access keys are 16 alphanumerics; this one is a demo value
MAX_QUERY_ROWS = 100
CHALLENGE_LIFETIME_S = 300


class VtigerError(Exception):
    """A failure vtiger reports in its envelope: `{"success": false, "error": {"code", "message"}}`."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# vTiger's own codes for the statuses a fault may answer with (FAILED_TO_UPDATE for any other 4xx).
_FAULT_CODES = {400: "DATABASE_QUERY_ERROR", 401: "AUTHENTICATION_REQUIRED", 403: "ACCESS_DENIED",
                404: "RECORD_NOT_FOUND", 429: "TOO_MANY_REQUESTS"}


def envelope_error(code: str, message: str, status: int = 400, headers: Mapping[str, str] | None = None,
                   ) -> JSONResponse:
    return JSONResponse({"success": False, "error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


@dataclass(frozen=True, slots=True)
class EncodedResult:
    """A result already encoded as JSON (see `VtigerState.query_json`), put into the envelope as it is."""

    data: bytes


def envelope_ok(result: Any) -> Response:
    if isinstance(result, EncodedResult):
        # Byte for byte what JSONResponse({"success": True, "result": ...}) would send.
        return Response(b'{"success":true,"result":' + result.data + b"}", media_type="application/json")
    return JSONResponse({"success": True, "result": result})


# --------------------------------------------------------------------------------------------------- modules

def _field(name: str, label: str, kind: str, *, mandatory: bool = False, editable: bool = True,
           nullable: bool = True, unique: bool = False, default: str = "", refers_to: tuple[str, ...] = (),
           picklist: tuple[str, ...] = ()) -> dict[str, Any]:
    type_info: dict[str, Any] = {"name": kind}
    if picklist:
        type_info = {"picklistValues": [{"label": v, "value": v} for v in picklist],
                     "defaultValue": picklist[0], "name": kind}
    if refers_to:
        type_info = {"refersTo": list(refers_to), "name": kind}
    return {"name": name, "label": label, "mandatory": mandatory, "type": type_info, "isunique": unique,
            "nullable": nullable, "editable": editable, "default": default}


def _id_field(label: str) -> dict[str, Any]:
    return {"name": "id", "label": label, "mandatory": False, "type": {"name": "autogenerated"},
            "editable": False, "nullable": False, "default": ""}


_OWNER = _field("assigned_user_id", "Assigned To", "owner", mandatory=True, nullable=False)
_CREATED = _field("createdtime", "Created Time", "datetime", editable=False, nullable=False)
_MODIFIED = _field("modifiedtime", "Modified Time", "datetime", editable=False, nullable=False)
_MODIFIED_BY = _field("modifiedby", "Last Modified By", "reference", nullable=False, refers_to=("Users",))

_INDUSTRIES = ("Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
               "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment",
               "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality",
               "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail",
               "Shipping", "Technology", "Telecommunications", "Transportation", "Utilities", "Other")

# Field for field the describe of /work/shared/api/vtiger/samples/describe_accounts.json (vtiger 7), plus the
# two custom fields the hub's installation uses. Stock Accounts have no `mobile` field.
_ACCOUNT_FIELDS = (
    _field("accountname", "Organization Name", "string", mandatory=True, nullable=False, unique=True),
    _field("account_no", "Organization Number", "string", editable=False, nullable=False),
    _field("phone", "Primary Phone", "phone"),
    _field("website", "Website", "url"),
    _field("fax", "Fax", "phone"),
    _field("tickersymbol", "Ticker Symbol", "string"),
    _field("otherphone", "Secondary Phone", "phone"),
    _field("account_id", "Member Of", "reference", refers_to=("Accounts",)),
    _field("email1", "Primary Email", "email"),
    _field("employees", "Employees", "integer"),
    _field("email2", "Secondary Email", "email"),
    _field("ownership", "Ownership", "string"),
    _field("rating", "Rating", "picklist",
           picklist=("Acquired", "Active", "Market Failed", "Project Cancelled", "Shutdown")),
    _field("industry", "Industry", "picklist", picklist=_INDUSTRIES),
    _field("siccode", "SIC Code", "string"),
    _field("accounttype", "Type", "picklist",
           picklist=("Analyst", "Competitor", "Customer", "Integrator", "Investor", "Partner", "Press",
                     "Prospect", "Reseller", "Other")),
    _field("annual_revenue", "Annual Revenue", "currency"),
    _field("emailoptout", "Email Opt Out", "boolean"),
    _field("notify_owner", "Notify Owner", "boolean"),
    _OWNER, _CREATED, _MODIFIED, _MODIFIED_BY,
    _field("bill_street", "Billing Address", "text"),
    _field("ship_street", "Shipping Address", "text"),
    _field("bill_city", "Billing City", "string"),
    _field("ship_city", "Shipping City", "string"),
    _field("bill_state", "Billing State", "string"),
    _field("ship_state", "Shipping State", "string"),
    _field("bill_code", "Billing Postal Code", "string"),
    _field("ship_code", "Shipping Postal Code", "string"),
    _field("bill_country", "Billing Country", "string"),
    _field("ship_country", "Shipping Country", "string"),
    _field("bill_pobox", "Billing PO Box", "string"),
    _field("ship_pobox", "Shipping PO Box", "string"),
    _field("description", "Description", "text"),
    _field("isconvertedfromlead", "Is Converted From Lead", "boolean", default="no"),
    _field("source", "Source", "string", editable=False),
    _field("starred", "starred", "boolean"),
    _field("tags", "tags", "string"),
    _field("cf_854", "e-conomic kundenummer", "string"),
    _field("cf_856", "CVR-nummer", "string"),
    _id_field("accountid"),
)

_CONTACT_FIELDS = (
    _field("salutationtype", "Salutation", "picklist", picklist=("--None--", "Mr.", "Ms.", "Mrs.", "Dr.")),
    _field("firstname", "First Name", "string"),
    _field("contact_no", "Contact Id", "string", editable=False, nullable=False),
    _field("phone", "Office Phone", "phone"),
    _field("lastname", "Last Name", "string", mandatory=True, nullable=False),
    _field("mobile", "Mobile Phone", "phone"),
    _field("account_id", "Organization Name", "reference", refers_to=("Accounts",)),
    _field("title", "Title", "string"),
    _field("department", "Department", "string"),
    _field("email", "Primary Email", "email"),
    _field("secondaryemail", "Secondary Email", "email"),
    _field("emailoptout", "Email Opt Out", "boolean"),
    _OWNER, _CREATED, _MODIFIED, _MODIFIED_BY,
    _field("mailingstreet", "Mailing Street", "text"),
    _field("mailingcity", "Mailing City", "string"),
    _field("mailingzip", "Mailing Zip", "string"),
    _field("mailingcountry", "Mailing Country", "string"),
    _field("description", "Description", "text"),
    _id_field("contactid"),
)

_CASE_FIELDS = (
    _field("ticket_no", "Ticket No", "string", editable=False, nullable=False),
    _OWNER,
    _field("parent_id", "Organization Name", "reference", refers_to=("Accounts",)),
    _field("contact_id", "Contact Name", "reference", refers_to=("Contacts",)),
    _field("ticketpriorities", "Priority", "picklist", picklist=("Low", "Normal", "High", "Urgent")),
    _field("ticketstatus", "Status", "picklist", mandatory=True,
           picklist=("Open", "In Progress", "Wait For Response", "Closed")),
    _field("hours", "Hours", "decimal"),
    _field("days", "Days", "integer"),
    _CREATED, _MODIFIED, _MODIFIED_BY,
    _field("ticket_title", "Title", "string", mandatory=True, nullable=False),
    _field("description", "Description", "text"),
    _field("solution", "Solution", "text"),
    _id_field("ticketid"),
)

# vTiger Cloud does not publish the Timelogs field names; these are the defaults hubtui's settings assume.
_TIMELOG_FIELDS = (
    _field("related_to", "Related To", "reference", refers_to=("Accounts", "Contacts")),
    _field("contact_id", "Contact", "reference", refers_to=("Contacts",)),
    _field("date_start", "Date", "date", mandatory=True, nullable=False),
    _field("duration", "Duration (Minutes)", "integer"),
    _field("description", "Description", "text"),
    _field("billable", "Billable", "boolean"),
    _field("case_id", "Case", "reference", refers_to=("HelpDesk",)),
    _OWNER, _CREATED, _MODIFIED, _MODIFIED_BY,
    _id_field("timelogid"),
)


@dataclass(frozen=True)
class ModuleSchema:
    name: str
    label: str
    singular: str
    id_prefix: str
    fields: tuple[dict[str, Any], ...]
    label_fields: str
    number_field: str | None = None
    number_prefix: str = ""
    mandatory: tuple[str, ...] = field(init=False)
    editable: frozenset[str] = field(init=False)
    names: frozenset[str] = field(init=False)
    references: dict[str, tuple[str, ...]] = field(init=False)
    # Every field with its empty value: records are stored sparse and made whole on the way out.
    blank: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: derived fields are set once here
        set_(self, "mandatory", tuple(f["name"] for f in self.fields if f["mandatory"]))
        set_(self, "editable", frozenset(f["name"] for f in self.fields if f["editable"]))
        set_(self, "names", frozenset(f["name"] for f in self.fields))
        set_(self, "references", {f["name"]: tuple(f["type"].get("refersTo", ("Users",)))
                                  for f in self.fields if f["type"]["name"] in {"reference", "owner"}})
        set_(self, "blank", {f["name"]: ("0" if f["type"]["name"] == "boolean" else "")
                             for f in self.fields if f["name"] != "id"})

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label, "name": self.name, "createable": True, "updateable": True,
            "deleteable": True, "retrieveable": True, "fields": list(self.fields), "idPrefix": self.id_prefix,
            "isEntity": True, "allowDuplicates": False, "labelFields": self.label_fields,
        }


MODULES: dict[str, ModuleSchema] = {
    schema.name: schema
    for schema in (
        ModuleSchema("Accounts", "Organizations", "Organization", ACCOUNTS_PREFIX, _ACCOUNT_FIELDS,
                     "accountname", "account_no", "ACC"),
        ModuleSchema("Contacts", "Contacts", "Contact", CONTACTS_PREFIX, _CONTACT_FIELDS,
                     "firstname,lastname", "contact_no", "CON"),
        ModuleSchema("HelpDesk", "Tickets", "Ticket", HELPDESK_PREFIX, _CASE_FIELDS, "ticket_title",
                     "ticket_no", "TT"),
        ModuleSchema(TIMELOG_MODULE, "Timelogs", "Timelog", TIMELOGS_PREFIX, _TIMELOG_FIELDS, "description"),
    )
}
_MODULE_BY_PREFIX = {schema.id_prefix: schema for schema in MODULES.values()}
_ID = re.compile(r"^(\d+)x(\d+)$")


# ------------------------------------------------------------------------------------------------ the query

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
    target = _record_number(wanted)
    compare = _ORDERING[op]
    return lambda row: compare(_record_number(row.get("id", "")), target)


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
}


def _as_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _record_number(record_id: str) -> int:
    match = _ID.match(record_id)
    return int(match.group(2)) if match else -1


def parse_query(text: str) -> Query:
    return _Parser(text.strip()).parse()


# ---------------------------------------------------------------------------------------------- the store

@dataclass
class _Session:
    created: float
    last_used: float


class VtigerState(SandboxState):
    """The records and sessions of one sandbox vTiger. `records[module][id]` holds sparse string fields."""

    faults: VtigerFaults

    def __init__(self, data: RemoteData | None = None, faults: VtigerFaults | None = None, *,
                 username: str = VTIGER_USERNAME, access_key: str = VTIGER_ACCESS_KEY) -> None:
        super().__init__(faults or VtigerFaults())
        self.username = username
        self.access_key = access_key
        self.records: dict[str, dict[str, dict[str, str]]] = {name: {} for name in MODULES}
        if data is not None:
            # Writes replace a record dict, never change one: copying the outer dicts keeps `data` pristine.
            for module, rows in data.vtiger_modules().items():
                self.records[module] = dict(rows)
        self.deleted: dict[str, dict[str, str]] = {name: {} for name in MODULES}
        self.sessions: dict[str, _Session] = {}
        self._challenges: dict[str, tuple[str, float]] = {}
        self._next_number = 1 + max(
            (_record_number(record_id) for rows in self.records.values() for record_id in rows), default=1000)
        self._versions: dict[str, int] = dict.fromkeys(MODULES, 0)
        self._id_versions: dict[str, int] = dict.fromkeys(MODULES, 0)
        self._order_cache: dict[tuple[str, tuple[tuple[str, bool], ...]], tuple[int, list[str]]] = {}
        self._encoded_records: dict[str, tuple[dict[str, str], bytes]] = {}  # id -> (record, its JSON)
        self._window_start = self._day_start = time.monotonic()
        self._window_used = self._day_used = 0

    @property
    def accounts(self) -> dict[str, dict[str, str]]:
        return self.records["Accounts"]

    def actions(self) -> dict[str, Callable[[], None]]:
        return {"expire_sessions": self.expire_sessions, "reset_flood_control": self.reset_flood_control}

    # Sessions (webservice.php flavour).
    def challenge(self, username: str) -> dict[str, Any]:
        token = secrets.token_hex(7)
        self._challenges[username] = (token, time.monotonic() + CHALLENGE_LIFETIME_S)
        server_time = int(time.time())
        return {"token": token, "serverTime": server_time, "expireTime": server_time + CHALLENGE_LIFETIME_S}

    def login(self, username: str, access_key_hash: str) -> dict[str, str]:
        token, expires = self._challenges.get(username, ("", 0.0))
        if not token or time.monotonic() > expires:
            raise VtigerError("INVALID_AUTH_TOKEN", "Specified token is invalid or expired", 200)
        expected = hashlib.md5((token + self.access_key).encode()).hexdigest()
        if username != self.username or not _same(access_key_hash, expected):
            raise VtigerError("INVALID_USER_CREDENTIALS", "Invalid username or password", 200)
        del self._challenges[username]
        name = secrets.token_hex(11)[:21]  # 21 hex characters, like the real session names
        now = time.monotonic()
        self.sessions[name] = _Session(now, now)
        return {"sessionName": name, "userId": SANDBOX_USER_ID, "version": "0.22", "vtigerVersion": "7.5.0"}

    def check_session(self, name: str) -> None:
        if not name:
            raise VtigerError("AUTHENTICATION_REQUIRED", "Authentication required", 200)
        session = self.sessions.get(name)
        now = time.monotonic()
        if session is not None and (now - session.last_used > self.faults.session_idle_s
                                    or now - session.created > self.faults.session_max_s):
            del self.sessions[name]
            session = None
        if session is None:
            raise VtigerError("INVALID_SESSIONID", "Session Identifier provided is Invalid", 200)
        session.last_used = now

    def expire_sessions(self) -> None:
        """End every webservice session: the next call with an old sessionName gets INVALID_SESSIONID."""
        self.sessions.clear()

    # Flood control (REST only, as on vTiger Cloud).
    def reset_flood_control(self) -> None:
        self._window_start = self._day_start = time.monotonic()
        self._window_used = self._day_used = 0

    def admit(self, scope: Scope) -> Admission:
        if not scope["path"].startswith(REST_PREFIX):
            return None, []
        faults, now = self.faults, time.monotonic()
        if now >= self._window_start + faults.flood_window_s:
            self._window_start, self._window_used = now, 0
        if now >= self._day_start + 86_400:
            self._day_start, self._day_used = now, 0
        self._window_used += 1
        self._day_used += 1
        reset_s = max(1, math.ceil(self._window_start + faults.flood_window_s - now))
        headers = [
            (b"x-floodcontrol-minutelimit", str(faults.flood_limit).encode()),
            (b"x-floodcontrol-remaining", str(max(0, faults.flood_limit - self._window_used)).encode()),
            (b"x-floodcontrol-reset", str(reset_s).encode()),
            (b"x-ratelimit-dailylimit", str(faults.daily_limit).encode()),
            (b"x-ratelimit-remaining", str(max(0, faults.daily_limit - self._day_used)).encode()),
        ]
        if self._window_used > faults.flood_limit or self._day_used > faults.daily_limit:
            message = (f"Too many requests: the limit of {faults.flood_limit} requests per "
                       f"{faults.flood_window_s:g} seconds is used up")
            return envelope_error("TOO_MANY_REQUESTS", message, 429, {"Retry-After": str(reset_s)}), headers
        return None, headers

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        code = "INTERNAL_SERVER_ERROR" if status >= 500 else _FAULT_CODES.get(status, "FAILED_TO_UPDATE")
        return envelope_error(code, message, status, headers)

    def is_write(self, method: str, path: str, body: Any) -> bool:
        if method != "POST":
            return False
        if path == WEBSERVICE_PATH:
            return isinstance(body, dict) and body.get("operation") in WRITE_OPERATIONS
        return path.rsplit("/", 1)[-1] in WRITE_OPERATIONS

    # Reads.
    def schema(self, module: str) -> ModuleSchema:
        schema = MODULES.get(module)
        if schema is None:
            raise VtigerError("ACCESS_DENIED", f"Permission to perform the operation is denied for {module}")
        return schema

    def locate(self, record_id: str) -> tuple[ModuleSchema, dict[str, str]]:
        match = _ID.match(record_id or "")
        if match is None:
            raise VtigerError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect")
        schema = _MODULE_BY_PREFIX.get(match.group(1))
        if schema is None:
            raise VtigerError("ACCESS_DENIED", "Permission to perform the operation is denied for id")
        record = self.records[schema.name].get(record_id)
        if record is None:
            raise VtigerError("RECORD_NOT_FOUND", "Record you are trying to access is not found")
        return schema, record

    def retrieve(self, record_id: str) -> dict[str, str]:
        if record_id == SANDBOX_USER_ID:
            return self.me()
        schema, record = self.locate(record_id)
        return schema.blank | record

    def me(self) -> dict[str, str]:
        return {
            "id": SANDBOX_USER_ID, "user_name": self.username, "first_name": "Sandbox",
            "last_name": "Support", "email1": self.username, "is_admin": "on", "status": "Active",
            "roleid": "H2", "time_zone": "UTC", "language": "da_dk", "currency_id": "21x1",
            "hour_format": "24", "date_format": "dd-mm-yyyy", "start_hour": "08:00",
        }

    def query(self, text: str) -> list[dict[str, str]]:
        query, schema = self._parse(text)
        return self._rows(query, schema)

    def query_json(self, text: str) -> bytes:
        """`query` encoded as JSON. The rows of a `select *` come from `_encoded`, so paging through a big
        module costs a join per page instead of re-encoding every row every time it is read."""
        query, schema = self._parse(text)
        if query.count or query.fields is not None:
            return json_bytes(self._rows(query, schema))
        return b"[" + b",".join([self._encoded(schema, record) for record in self._pick(query, schema)]) + b"]"

    def _parse(self, text: str) -> tuple[Query, ModuleSchema]:
        query = parse_query(text)
        schema = self.schema(query.module)
        for name in [*(query.fields or []), *query.where_fields, *(f for f, _ in query.order)]:
            if name not in schema.names:
                raise VtigerError("QUERY_SYNTAX_ERROR", f"Unknown field: {name} in {schema.name}")
        return query, schema

    def _rows(self, query: Query, schema: ModuleSchema) -> list[dict[str, str]]:
        if query.count:
            rows = self.records[schema.name]
            where = query.where
            blank = schema.blank
            ordered = self._ordered_ids(schema, tuple(query.order))
            total = len(rows) if where is None else sum(1 for i in ordered if where(_Dense(blank, rows[i])))
            return [{"count": str(total)}]
        picked = self._pick(query, schema)
        if query.fields is None:
            return [schema.blank | record for record in picked]
        names = [name for name in query.fields if name != "id"]
        return [{**{n: record.get(n, schema.blank[n]) for n in names}, "id": record["id"]}
                for record in picked]

    def _pick(self, query: Query, schema: ModuleSchema) -> list[dict[str, str]]:
        """The stored (sparse) records the query's where, order and limit select."""
        rows = self.records[schema.name]
        ordered = self._ordered_ids(schema, tuple(query.order))
        wanted = query.offset + query.limit
        if query.where is None:
            return [rows[i] for i in ordered[query.offset:wanted]]
        picked: list[dict[str, str]] = []
        seen = 0
        for record_id in ordered:  # stop at the last wanted row: paging 100,000 rows stays cheap
            record = rows[record_id]
            if query.where(_Dense(schema.blank, record)):
                seen += 1
                if seen > query.offset:
                    picked.append(record)
                if seen >= wanted:
                    break
        return picked

    def _encoded(self, schema: ModuleSchema, record: dict[str, str]) -> bytes:
        """`schema.blank | record` as JSON, kept while `record` is the stored one. Writes store a new dict
        and never change one in place, so the identity check is all the invalidation needed."""
        cached = self._encoded_records.get(record["id"])
        if cached is not None and cached[0] is record:
            return cached[1]
        data = json_bytes(schema.blank | record)
        self._encoded_records[record["id"]] = (record, data)
        return data

    def _ordered_ids(self, schema: ModuleSchema, order: tuple[tuple[str, bool], ...]) -> list[str]:
        module = schema.name
        by_id_only = all(name == "id" for name, _ in order)
        version = self._id_versions[module] if by_id_only else self._versions[module]
        cached = self._order_cache.get((module, order))
        if cached is not None and cached[0] == version:
            return cached[1]
        rows = self.records[module]
        ids = sorted(rows, key=_record_number)  # the database's natural order, and the tie-breaker
        for name, descending in reversed(order):
            if name == "id":
                ids.sort(key=_record_number, reverse=descending)
            else:
                ids.sort(key=lambda i, n=name: rows[i].get(n, "").casefold(), reverse=descending)
        self._order_cache[(module, order)] = (version, ids)
        return ids

    def sync(self, module: str, since_epoch: int) -> dict[str, Any]:
        schema = self.schema(module)
        since = datetime.fromtimestamp(since_epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
        changed = sorted((r for r in self.records[module].values() if r.get("modifiedtime", "") > since),
                         key=lambda r: (r.get("modifiedtime", ""), _record_number(r["id"])))
        page = changed[:MAX_QUERY_ROWS]
        deleted = [i for i, when in self.deleted[module].items() if when > since]
        last = page[-1]["modifiedtime"] if page else since
        last_epoch = int(datetime.strptime(last, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())
        return {"updated": [schema.blank | r for r in page], "deleted": deleted,
                "more": len(changed) > MAX_QUERY_ROWS, "lastModifiedTime": last_epoch}

    # Writes.
    def create(self, module: str, element: Mapping[str, Any]) -> dict[str, str]:
        schema = self.schema(module)
        values = self._clean(schema, element)
        self._check(schema, values)
        number = self._next_number
        self._next_number += 1
        record_id = f"{schema.id_prefix}x{number}"
        stamp = self._stamp()
        values.update(id=record_id, createdtime=stamp, modifiedtime=stamp, modifiedby=SANDBOX_USER_ID)
        if schema.number_field:
            values[schema.number_field] = f"{schema.number_prefix}{number}"
        self.records[module][record_id] = {k: v for k, v in values.items() if v}
        self._touch(module, structure=True)
        return schema.blank | self.records[module][record_id]

    def update(self, element: Mapping[str, Any]) -> dict[str, str]:
        """Full replacement, as vtws_update: editable fields left out of `element` are blanked."""
        schema, record = self.locate(str(element.get("id", "")))
        values = {k: v for k, v in record.items() if k not in schema.editable}
        values.update(self._clean(schema, element))
        self._check(schema, values)
        return self._store(schema, values)

    def revise(self, element: Mapping[str, Any]) -> dict[str, str]:
        """Partial update: only the fields in `element` change."""
        schema, record = self.locate(str(element.get("id", "")))
        values = dict(record)
        values.update(self._clean(schema, element))
        self._check(schema, values)
        return self._store(schema, values)

    def delete(self, record_id: str) -> dict[str, str]:
        schema, _ = self.locate(record_id)
        del self.records[schema.name][record_id]
        self.deleted[schema.name][record_id] = self._stamp()
        self._touch(schema.name, structure=True)
        return {"status": "successful"}

    def _clean(self, schema: ModuleSchema, element: Mapping[str, Any]) -> dict[str, str]:
        # Like vtiger: fields the module does not have (or may not edit) are dropped without a word.
        return {k: _as_text(v) for k, v in element.items() if k in schema.editable}

    def _check(self, schema: ModuleSchema, values: Mapping[str, str]) -> None:
        for name in schema.mandatory:
            if not values.get(name, "").strip():
                raise VtigerError("MANDATORY_FIELDS_MISSING", f"{name} does not have a value")
        for name, modules in schema.references.items():
            value = values.get(name, "")
            if not value:
                continue
            match = _ID.match(value)
            if match is None:
                raise VtigerError("REFERENCE_INVALID", f"Invalid reference specified for {name}")
            if modules == ("Users",):
                if match.group(1) != USERS_PREFIX:
                    raise VtigerError("REFERENCE_INVALID", f"Invalid reference specified for {name}")
                continue
            target = _MODULE_BY_PREFIX.get(match.group(1))
            if target is None or target.name not in modules or value not in self.records[target.name]:
                raise VtigerError("REFERENCE_INVALID", f"Invalid reference specified for {name}")

    def _store(self, schema: ModuleSchema, values: dict[str, str]) -> dict[str, str]:
        values["modifiedtime"] = self._stamp()
        values["modifiedby"] = SANDBOX_USER_ID
        record = {k: v for k, v in values.items() if v}
        self.records[schema.name][record["id"]] = record
        self._touch(schema.name)
        return schema.blank | record

    def _stamp(self) -> str:
        return self.now().strftime("%Y-%m-%d %H:%M:%S")

    def _touch(self, module: str, *, structure: bool = False) -> None:
        self._versions[module] += 1
        if structure:
            self._id_versions[module] += 1


class _Dense(Mapping[str, str]):
    """A sparse record seen with its blanks filled in, without copying it for every row of a query."""

    __slots__ = ("_blank", "_record")

    def __init__(self, blank: dict[str, str], record: dict[str, str]) -> None:
        self._blank, self._record = blank, record

    def __getitem__(self, key: str) -> str:
        value = self._record.get(key)
        return value if value is not None else self._blank[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self._record.get(key)
        return value if value is not None else self._blank.get(key, default)

    def __iter__(self) -> Any:
        return iter(self._blank)

    def __len__(self) -> int:
        return len(self._blank)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# ----------------------------------------------------------------------------------------------- operations

Params = Mapping[str, str]

READ_OPERATIONS = frozenset({"retrieve", "query", "describe", "listtypes", "sync"})
WRITE_OPERATIONS = frozenset({"create", "update", "revise", "delete"})


def _param(params: Params, name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise VtigerError("MANDATORY_FIELDS_MISSING", f"{name} does not have a value")
    return value


def _element(params: Params) -> dict[str, Any]:
    try:
        element = json.loads(_param(params, "element"))
    except ValueError:
        raise VtigerError("INTERNAL_SERVER_ERROR", "Unknown Error while processing request") from None
    if not isinstance(element, dict):
        raise VtigerError("INTERNAL_SERVER_ERROR", "Unknown Error while processing request")
    return element


def _epoch(value: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise VtigerError("INVALID_PARAMETER", "modifiedTime must be seconds since 1970") from None


def _listtypes(state: VtigerState) -> dict[str, Any]:
    info = {s.name: {"isEntity": True, "label": s.label, "singular": s.singular} for s in MODULES.values()}
    return {"types": list(MODULES), "information": info}


OPERATIONS: dict[str, Callable[[VtigerState, Params], Any]] = {
    "retrieve": lambda s, p: s.retrieve(_param(p, "id")),
    "query": lambda s, p: EncodedResult(s.query_json(_param(p, "query"))),
    "describe": lambda s, p: s.schema(_param(p, "elementType")).describe(),
    "listtypes": lambda s, p: _listtypes(s),
    "sync": lambda s, p: s.sync(_param(p, "elementType"), _epoch(p.get("modifiedTime") or "0")),
    "create": lambda s, p: s.create(_param(p, "elementType"), _element(p)),
    "update": lambda s, p: s.update(_element(p)),
    "revise": lambda s, p: s.revise(_element(p)),
    "delete": lambda s, p: s.delete(_param(p, "id")),
}


# ------------------------------------------------------------------------------------------------ HTTP side

async def _params(request: Request) -> dict[str, str]:
    if request.method == "GET":
        return dict(request.query_params)
    if "json" in request.headers.get("content-type", ""):
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise VtigerError("INTERNAL_SERVER_ERROR", "Unknown Error while processing request")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    # Clients post application/x-www-form-urlencoded; parsed here so python-multipart is not needed.
    return dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))


def _basic_auth_ok(state: VtigerState, header: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        username, _, key = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return _same(username, state.username) and _same(key, state.access_key)


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input (compare_digest on str does not)."""
    return secrets.compare_digest(given.encode(), expected.encode())


def _rest_endpoint(state: VtigerState) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        if not authorization:
            return envelope_error("AUTHENTICATION_REQUIRED", "Authentication required", 401,
                                  {"WWW-Authenticate": 'Basic realm="vtiger"'})
        if not _basic_auth_ok(state, authorization):
            return envelope_error("INVALID_USER_CREDENTIALS", "Invalid username or password", 401,
                                  {"WWW-Authenticate": 'Basic realm="vtiger"'})
        operation = request.path_params["operation"]
        if operation == "me":
            return envelope_ok(state.me())
        if operation not in OPERATIONS:
            return envelope_error("UNKNOWN_OPERATION", f"Unknown operation: {operation}", 404)
        expected = "GET" if operation in READ_OPERATIONS else "POST"
        if request.method != expected:
            return envelope_error("UNKNOWN_OPERATION", f"{operation} needs an HTTP {expected}", 405)
        try:
            return envelope_ok(OPERATIONS[operation](state, await _params(request)))
        except VtigerError as error:
            status = error.status if error.status >= 400 else 400
            return envelope_error(error.code, error.message, status)

    return endpoint


def _webservice_endpoint(state: VtigerState) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        # webservice.php answers 200 whatever happens; the envelope says whether it worked.
        try:
            params = await _params(request)
            operation = params.get("operation") or request.query_params.get("operation", "")
            return envelope_ok(_webservice_operation(state, request.method, operation, params))
        except VtigerError as error:
            return envelope_error(error.code, error.message, 200)

    return endpoint


def _webservice_operation(state: VtigerState, method: str, operation: str, params: Params) -> Any:
    post_only = operation in WRITE_OPERATIONS or operation in {"login", "logout"}
    if operation not in OPERATIONS and operation not in {"getchallenge", "login", "logout"}:
        raise VtigerError("UNKNOWN_OPERATION", f"Unsupported operation: {operation or '(none)'}")
    if (method == "POST") != post_only:
        raise VtigerError("UNKNOWN_OPERATION", "Permission to perform the operation is denied")
    if operation == "getchallenge":
        return state.challenge(_param(params, "username"))
    if operation == "login":
        return state.login(_param(params, "username"), _param(params, "accessKey"))
    state.check_session(params.get("sessionName", ""))
    if operation == "logout":
        state.sessions.pop(params["sessionName"], None)
        return {"message": "successfull"}
    return OPERATIONS[operation](state, params)


def create_vtiger_app(state: VtigerState) -> SandboxMiddleware:
    """The ASGI app: REST + webservice.php + `/_sandbox/...` controls, wrapped in the fault layer."""
    rest = _rest_endpoint(state)
    routes = [
        Route(f"{REST_PREFIX}/{{operation}}", rest, methods=["GET", "POST"]),
        Route(WEBSERVICE_PATH, _webservice_endpoint(state), methods=["GET", "POST"]),
        *control_routes(state),
    ]
    return SandboxMiddleware(Starlette(routes=routes), state)

