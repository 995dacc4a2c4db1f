"""The records and sessions of one sandbox vTiger, its flood control, and the reads and writes the
operations run on them.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.types import Scope

from hubtui.sandbox.faults import Admission, SandboxState, VtigerFaults, json_bytes
from hubtui.sandbox.remote_data import SANDBOX_USER_ID, USERS_PREFIX, RemoteData
from hubtui.sandbox.vtiger.auth import CHALLENGE_LIFETIME_S, VTIGER_ACCESS_KEY, VTIGER_USERNAME, Session, same
from hubtui.sandbox.vtiger.modules import MODULE_BY_PREFIX, MODULES, RECORD_ID, ModuleSchema, record_number
from hubtui.sandbox.vtiger.protocol import (
    FAULT_CODES,
    REST_PREFIX,
    WEBSERVICE_PATH,
    WRITE_OPERATIONS,
    VtigerError,
    envelope_error,
)
from hubtui.sandbox.vtiger.query import MAX_QUERY_ROWS, Query, parse_query


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
        self.sessions: dict[str, Session] = {}
        self._challenges: dict[str, tuple[str, float]] = {}
        self._next_number = 1 + max(
            (record_number(record_id) for rows in self.records.values() for record_id in rows), default=1000)
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
        if username != self.username or not same(access_key_hash, expected):
            raise VtigerError("INVALID_USER_CREDENTIALS", "Invalid username or password", 200)
        del self._challenges[username]
        name = secrets.token_hex(11)[:21]  # 21 hex characters, like the real session names
        now = time.monotonic()
        self.sessions[name] = Session(now, now)
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
        code = "INTERNAL_SERVER_ERROR" if status >= 500 else FAULT_CODES.get(status, "FAILED_TO_UPDATE")
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
        match = RECORD_ID.match(record_id or "")
        if match is None:
            raise VtigerError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect")
        schema = MODULE_BY_PREFIX.get(match.group(1))
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
        ids = sorted(rows, key=record_number)  # the database's natural order, and the tie-breaker
        for name, descending in reversed(order):
            if name == "id":
                ids.sort(key=record_number, reverse=descending)
            else:
                ids.sort(key=lambda i, n=name: rows[i].get(n, "").casefold(), reverse=descending)
        self._order_cache[(module, order)] = (version, ids)
        return ids

    def sync(self, module: str, since_epoch: int) -> dict[str, Any]:
        schema = self.schema(module)
        since = datetime.fromtimestamp(since_epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
        changed = sorted((r for r in self.records[module].values() if r.get("modifiedtime", "") > since),
                         key=lambda r: (r.get("modifiedtime", ""), record_number(r["id"])))
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
            match = RECORD_ID.match(value)
            if match is None:
                raise VtigerError("REFERENCE_INVALID", f"Invalid reference specified for {name}")
            if modules == ("Users",):
                if match.group(1) != USERS_PREFIX:
                    raise VtigerError("REFERENCE_INVALID", f"Invalid reference specified for {name}")
                continue
            target = MODULE_BY_PREFIX.get(match.group(1))
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
