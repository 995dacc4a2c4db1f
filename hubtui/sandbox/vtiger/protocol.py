"""What goes over the wire to and from vTiger: the API's paths, its operations by kind, and the
`{"success": ..., "result"/"error": ...}` envelope every answer comes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

REST_PREFIX = "/restapi/v1/vtiger/default"
WEBSERVICE_PATH = "/webservice.php"

READ_OPERATIONS = frozenset({"retrieve", "query", "describe", "listtypes", "sync"})
WRITE_OPERATIONS = frozenset({"create", "update", "revise", "delete"})


class VtigerError(Exception):
    """A failure vtiger reports in its envelope: `{"success": false, "error": {"code", "message"}}`."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# vTiger's own codes for the statuses a fault may answer with (FAILED_TO_UPDATE for any other 4xx).
FAULT_CODES = {400: "DATABASE_QUERY_ERROR", 401: "AUTHENTICATION_REQUIRED", 403: "ACCESS_DENIED",
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
