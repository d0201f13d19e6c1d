"""A thin Microsoft Graph client: auth header, throttling, and the per-mailbox limit.

Microsoft's rules shape it (https://learn.microsoft.com/graph/throttling):

- 429/503/504 are retried after ``Retry-After`` (seconds or an HTTP date), or after an
  exponential backoff with full jitter when the header is absent; a wait longer than
  ``max_wait`` ends the run with :class:`TransientError` carrying it, so the scheduler
  comes back later and the mailbox is never disabled for being throttled;
- Exchange Online allows 4 concurrent requests per mailbox: a process-wide semaphore
  per (Graph host, mailbox) holds every client of that mailbox to it;
- every request carries ``Prefer: IdType="ImmutableId"`` so ids survive moves.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from crmsync.connectors.graph.auth import DelegatedTokenSource, TokenSource
from crmsync.connectors.graph.settings import GraphSettings
from crmsync.errors import AuthError, CrmSyncError, CursorExpiredError, TransientError

MAX_IN_FLIGHT = 4
RETRY_STATUSES = frozenset({429, 503, 504})
#: error codes Graph uses for a delta token it no longer knows
RESYNC_CODES = frozenset({"syncStateNotFound", "resyncRequired", "syncStateInvalid"})
TIMEOUT = (10, 60)

_slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def mailbox_slots(graph_url: str, address: str) -> threading.BoundedSemaphore:
    """Return the semaphore shared by every request to one mailbox in this process."""
    key = (graph_url.rstrip("/").lower(), address.lower())
    with _slots_lock:
        return _slots.setdefault(key, threading.BoundedSemaphore(MAX_IN_FLIGHT))


class GraphError(CrmSyncError):
    """Graph answered with an error that retrying will not fix."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Graph {status} {code}: {message}")
        self.status, self.code = status, code


class SyncStateGoneError(CursorExpiredError):
    """A delta or skip token was rejected (410, ``syncStateNotFound``): enumerate again."""


@dataclass(frozen=True)
class _Body:
    json: Any
    data: bytes | None
    content_type: str | None
    #: more request headers (``If-Match``)
    headers: dict[str, str]


@dataclass
class Throttle:
    """How long to wait before retry ``attempt`` (0-based)."""

    base: float = 0.5
    cap: float = 30.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


def retry_after_seconds(value: str | None) -> float | None:
    """Parse ``Retry-After``: delta-seconds (integer, or a fraction) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_of(body: Any) -> tuple[str, str]:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", ""))[:300]
    return str(error), ""


class GraphClient:
    """Send requests for one mailbox; see the module docstring for the rules."""

    def __init__(self, settings: GraphSettings, tokens: TokenSource | DelegatedTokenSource,
                 session: requests.Session,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.tokens = tokens
        self.session = session
        self.sleep = sleep
        self.throttle = Throttle()
        self.slots = mailbox_slots(settings.graph_url, settings.address)
        #: requests sent, throttled answers, and seconds slept, for stats and benchmarks
        self.counts: dict[str, float] = {"requests": 0, "throttled": 0, "waited": 0.0}

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.settings.api}{path}"

    def request(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
                content_type: str | None = None, prefer: Iterable[str] = (),
                headers: Mapping[str, str] | None = None) -> requests.Response:
        """Send one request, retrying throttled and transient failures.

        :raises AuthError: the token or the mailbox access was refused.
        :raises TransientError: still throttled or unreachable after the retries.
        """
        refreshed = False
        attempt = 0
        while True:
            body = _Body(json, data, content_type, dict(headers or {}))
            response = self._send(method, path, body, prefer, refreshed)
            if response.status_code == 401 and not refreshed:
                refreshed = True  # the cached token may have been revoked: get a new one
                continue
            if response.status_code in (401, 403):
                code, message = error_of(_json(response))
                raise AuthError(f"Graph refused access to {self.settings.address} "
                                f"({response.status_code} {code}): {message}")
            if response.status_code not in RETRY_STATUSES and response.status_code < 500:
                return response
            self._wait_or_give_up(response, attempt)
            attempt += 1

    def _send(self, method: str, path: str, body: _Body, prefer: Iterable[str],
              fresh_token: bool) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {self.tokens.token(self.settings.scope, fresh_token)}",
            "Prefer": ", ".join(['IdType="ImmutableId"', *prefer]),
        }
        if body.content_type:
            headers["Content-Type"] = body.content_type
        headers.update(body.headers)
        with self.slots:
            self.counts["requests"] += 1
            try:
                response = self.session.request(method, self.url(path), json=body.json,
                                                data=body.data, headers=headers,
                                                timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise TransientError(f"Graph unreachable: {type(exc).__name__}") from exc
            response.close()  # the body is read: give the connection back to the pool
        return response

    def _wait_or_give_up(self, response: requests.Response, attempt: int) -> None:
        self.counts["throttled"] += response.status_code in RETRY_STATUSES
        delay = retry_after_seconds(response.headers.get("Retry-After"))
        if delay is None:
            delay = self.throttle.backoff(attempt)
        code, _ = error_of(_json(response))
        if delay > self.settings.max_wait or attempt >= self.settings.max_retries:
            error = TransientError(
                f"Graph throttled or unavailable ({response.status_code} {code}); "
                f"retry in {delay:.0f} s", retry_after=delay)
            error.status = response.status_code  # 429: Graph did not process the request
            raise error
        self.counts["waited"] += delay
        self.sleep(delay)

    def get_json(self, path: str, prefer: Iterable[str] = ()) -> dict[str, Any]:
        """GET ``path`` and return its JSON body.

        :raises SyncStateGoneError: 410 or a resync error code (delta token expired).
        :raises GraphError: any other 4xx.
        """
        return checked_json(self.request("GET", path, prefer=prefer))


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def checked_json(response: requests.Response) -> dict[str, Any]:
    """Return the JSON body of a successful answer, or raise what its error means."""
    body = _json(response)
    if response.status_code < 400:
        return body if isinstance(body, dict) else {}
    code, message = error_of(body)
    if response.status_code == 410 or code in RESYNC_CODES:
        raise SyncStateGoneError(f"delta token rejected ({response.status_code} {code})")
    raise GraphError(response.status_code, code, message)
