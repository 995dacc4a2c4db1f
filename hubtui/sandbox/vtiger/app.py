"""The sandbox vTiger's HTTP side: REST (HTTP Basic, real statuses) and webservice.php (sessions, always
200), both running the same operations, plus the `/_sandbox/...` controls, wrapped in the fault layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubtui.sandbox.faults import SandboxMiddleware, control_routes
from hubtui.sandbox.vtiger.auth import basic_auth_ok
from hubtui.sandbox.vtiger.operations import OPERATIONS, Params, param
from hubtui.sandbox.vtiger.protocol import (
    READ_OPERATIONS,
    REST_PREFIX,
    WEBSERVICE_PATH,
    WRITE_OPERATIONS,
    VtigerError,
    envelope_error,
    envelope_ok,
)
from hubtui.sandbox.vtiger.state import VtigerState


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


def _rest_endpoint(state: VtigerState) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        if not authorization:
            return envelope_error("AUTHENTICATION_REQUIRED", "Authentication required", 401,
                                  {"WWW-Authenticate": 'Basic realm="vtiger"'})
        if not basic_auth_ok(authorization, state.username, state.access_key):
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
        return state.challenge(param(params, "username"))
    if operation == "login":
        return state.login(param(params, "username"), param(params, "accessKey"))
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
