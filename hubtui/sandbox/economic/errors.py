"""e-conomic's error answers (message, errorCode, developerHint, logId, errors per property) and the
property checks customers and draft orders share.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass
class FieldError:
    path: tuple[str | int, ...]
    message: str
    code: str
    input_value: Any = None
    hint: str = ""


class EconomicError(Exception):
    def __init__(self, status: int, message: str, code: str = "", hint: str = "",
                 field_errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.hint = status, message, code, hint
        self.field_errors = field_errors or []


def validation_failed(errors: list[FieldError]) -> EconomicError:
    count = len(errors)
    return EconomicError(400, f"Validation failed. {count} error{'' if count == 1 else 's'} found.", "E04300",
                         "Inspect validation errors and correct your request.", errors)


def not_found() -> EconomicError:
    return EconomicError(404, "Resource not found.", "", _NOT_FOUND_HINT)


_NOT_FOUND_HINT = (
    "The API tries to provide all the resource urls you need. If you have hard coded urls yourself, then try "
    "to look at the enclosing collection for hypermedia information on where the resource you are looking "
    "for could be."
)


def _log_id() -> str:
    return f"{secrets.token_hex(8)}-CPH"


def error_body(error: EconomicError, *, errors_as_array: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"message": error.message}
    if error.code:
        body["errorCode"] = error.code
    body.update(developerHint=error.hint, logId=_log_id(), httpStatusCode=error.status,
                logTime=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    if error.field_errors:
        body["errorCount"] = len(error.field_errors)
        body["errors"] = (_errors_array(error.field_errors) if errors_as_array
                          else _errors_object(error.field_errors))
    return body


def _field_error_json(error: FieldError, property_name: str) -> dict[str, Any]:
    item: dict[str, Any] = {"propertyName": property_name, "errorMessage": error.message,
                            "errorCode": error.code, "inputValue": plain(error.input_value)}
    if error.hint:
        item["developerHint"] = error.hint
    return item


def _errors_array(errors: list[FieldError]) -> list[dict[str, Any]]:
    # No structure to mirror the payload with, so propertyName carries the whole path: lines[0].quantity.
    def dotted(path: tuple[str | int, ...]) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")

    return [_field_error_json(error, dotted(error.path)) for error in errors]


def _errors_object(errors: list[FieldError]) -> dict[str, Any]:
    """Mirror the payload: {"customerGroup": {"errors": [...]}}, arrays as {"lines": {"items": [...]}}."""
    root: dict[str, Any] = {}
    for error in errors:
        node: dict[str, Any] = root
        for part in error.path:
            if isinstance(part, int):
                items: list[dict[str, Any]] = node.setdefault("items", [])
                items.extend({} for _ in range(part + 1 - len(items)))
                node = items[part]
            else:
                node = node.setdefault(part, {})
        leaf = next((p for p in reversed(error.path) if isinstance(p, str)), "")
        node.setdefault("errors", []).append(_field_error_json(error, leaf))
    return root


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def too_long(max_length: int) -> str:
    return f"Value is too long; at most {max_length} characters allowed."


def nulls(value: Any, path: tuple[str | int, ...]) -> Iterable[FieldError]:
    # e-conomic rejects null: to clear a field, leave it out.
    if isinstance(value, dict):
        for key, inner in value.items():
            if inner is None:
                yield FieldError((*path, key), "Value cannot be null. Leave the property out to clear it.",
                                 "E00110", None)
            else:
                yield from nulls(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from nulls(inner, (*path, index))


def is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)
