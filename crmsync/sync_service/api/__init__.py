"""The ``/api/v1`` JSON API. Every endpoint needs a bearer API key."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from crmsync.crm.db import session_scope
from crmsync.crm.queries import lookup_sender
from crmsync.sync_service.auth import user_for_key
from crmsync.sync_service.context import Services

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")


class APIError(Exception):
    """An error answered as JSON with :attr:`status_code`."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(APIError):
    status_code = 401


def services() -> Services:
    return current_app.extensions["crmsync"]


@blueprint.errorhandler(APIError)
def _api_error(exc: APIError):
    response = jsonify(error=exc.message)
    response.status_code = exc.status_code
    if exc.status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    response = jsonify(error=exc.description)
    response.status_code = exc.code or 500
    return response


@blueprint.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("a bearer token is required")
    with session_scope(services().sessions) as session:
        user = user_for_key(session, key.strip())
        if user is None:
            raise Unauthorized("the token is not valid")
        g.user_id, g.user_role = user.id, user.role


@blueprint.get("/lookup")
def lookup() -> Any:
    """Sender lookup: contact, account, open opportunities, open cases, recent activities."""
    address = request.args.get("address", "").strip()
    if not address:
        raise APIError("the query parameter 'address' is required")
    with session_scope(services().sessions) as session:
        return jsonify(lookup_sender(session, address))
