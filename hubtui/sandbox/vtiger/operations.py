"""vTiger's API operations by name (`retrieve`, `query`, `create`, `revise`, ...): the same for REST and
webservice.php, each reading its parameters and running on the state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from hubtui.sandbox.vtiger.modules import MODULES
from hubtui.sandbox.vtiger.protocol import EncodedResult, VtigerError
from hubtui.sandbox.vtiger.state import VtigerState

Params = Mapping[str, str]


def param(params: Params, name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise VtigerError("MANDATORY_FIELDS_MISSING", f"{name} does not have a value")
    return value


def _element(params: Params) -> dict[str, Any]:
    try:
        element = json.loads(param(params, "element"))
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
    "retrieve": lambda s, p: s.retrieve(param(p, "id")),
    "query": lambda s, p: EncodedResult(s.query_json(param(p, "query"))),
    "describe": lambda s, p: s.schema(param(p, "elementType")).describe(),
    "listtypes": lambda s, p: _listtypes(s),
    "sync": lambda s, p: s.sync(param(p, "elementType"), _epoch(p.get("modifiedTime") or "0")),
    "create": lambda s, p: s.create(param(p, "elementType"), _element(p)),
    "update": lambda s, p: s.update(_element(p)),
    "revise": lambda s, p: s.revise(_element(p)),
    "delete": lambda s, p: s.delete(param(p, "id")),
}
