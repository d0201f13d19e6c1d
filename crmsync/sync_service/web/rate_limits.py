"""Rate limits: per signed-in caller and per IP address, 429 with ``Retry-After`` beyond.

Flask-Limiter counts; where it counts is ``RATE_LIMIT_STORAGE_URL``: ``memory://`` for
the embedded default (one process), ``redis://host:port/db`` when several API processes
serve one organization, so that the limit is one limit across all of them. A caller is
the bearer credential they present (by its SHA-256: the store never holds a key); a
request without one counts against its IP address only.
"""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def caller_key() -> str:
    """The bucket of the credential the request presents, else of its address."""
    credential = request.headers.get("Authorization", "")
    if not credential:
        return "ip:" + get_remote_address()
    return "caller:" + hashlib.sha256(credential.encode()).hexdigest()[:32]


def install_rate_limits(app: Flask) -> Limiter:
    """Limit every route per IP address, and the API per caller as well."""
    limiter = Limiter(
        get_remote_address, app=app,
        storage_uri=app.config.get("RATE_LIMIT_STORAGE_URL") or "memory://",
        default_limits=[app.config.get("RATE_LIMIT_PER_IP") or "1200/minute"],
        headers_enabled=True, key_prefix="crmsync",
    )
    app.extensions["crmsync_limiter"] = limiter
    return limiter


def limit_callers(limiter: Limiter, blueprint, app: Flask) -> None:
    """The per-caller limit on ``blueprint`` (the API), on top of the per-IP one."""
    limiter.limit(app.config.get("RATE_LIMIT_PER_USER") or "600/minute",
                  key_func=caller_key, override_defaults=False)(blueprint)
