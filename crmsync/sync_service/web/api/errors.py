"""API errors: one JSON shape, ``{"error": "...", "fields": {...}}``, never a traceback."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error answered as JSON with :attr:`status_code`."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(APIError):
    """No token, or one that did not validate; the reason is never detailed."""

    status_code = 401


class NotFound(APIError):
    """Absent, or not visible to the viewer: the two are answered alike."""

    status_code = 404


class Conflict(APIError):
    status_code = 409


def _api_error(exc: APIError):
    response = jsonify(error=exc.message)
    response.status_code = exc.status_code
    if exc.status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _http_error(exc: HTTPException):
    body: dict = {"error": exc.description or exc.name}
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if messages:
        # webargs' validation messages: {"json": {"field": ["..."]}}
        body["fields"] = messages
    response = jsonify(body)
    response.status_code = exc.code or 500
    return response


def _unexpected(exc: Exception):
    log.exception("API request failed")
    response = jsonify(error="internal error")
    response.status_code = 500
    return response


def install_error_handlers(blueprint: Blueprint) -> None:
    """Render every error of ``blueprint``'s routes as JSON."""
    blueprint.register_error_handler(APIError, _api_error)
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.register_error_handler(Exception, _unexpected)
