"""The ``/v1.0`` routes of the Graph double (see :mod:`tests.fakes.graph_server`)."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

from tests.fakes.graph_data import FakeMailbox, Item, decode_token, encode_token, iso

ALWAYS = ("id", "@odata.type", "@odata.etag", "@removed")


def install_graph_routes(app: Flask, double) -> None:
    from tests.fakes.graph_server import (
        DEFAULT_PAGE_SIZE,
        MAX_SUBSCRIPTION_MINUTES,
        graph_error,
        subscription_expiry_ok,
    )

    def authorize() -> Any:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in double.tokens:
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        return None

    def user_box(user: str) -> tuple[FakeMailbox | None, Any]:
        denied = authorize()
        if denied is not None:
            return None, denied
        box = double.data.mailbox(user)
        if box is None:
            return None, graph_error(404, "ErrorInvalidUser",
                                     "The requested user is invalid.")
        signed_in = double.directory.token_users.get(request.headers["Authorization"][7:])
        if box.address in double.denied or signed_in not in (None, box.address):
            return None, graph_error(403, "ErrorAccessDenied", "Access is denied. Check "
                                     "credentials and try again.")
        return box, None

    def user_folder(user: str, folder: str) -> tuple[FakeMailbox | None, str, Any]:
        """The user's mailbox and the folder's id (by id or well-known name), or an error."""
        box, error = user_box(user)
        if error is not None:
            return None, "", error
        folder_id = box.folder_id(folder)
        if folder_id is None:
            return None, "", graph_error(404, "ErrorItemNotFound",
                                         "The specified object was not found.")
        return box, folder_id, None

    def page_size() -> int:
        prefer = request.headers.get("Prefer", "")
        found = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        return int(found.group(1)) if found else DEFAULT_PAGE_SIZE

    def delta(box: FakeMailbox, container: str, initial: dict[str, Any], keep) -> Any:
        token = request.args.get("$skiptoken") or request.args.get("$deltatoken")
        if token:
            state = decode_token(token)
            if state.get("gen") != box.generation or state["c"] != container:
                return graph_error(410, "syncStateNotFound", "The sync state is not found.")
            if "$deltatoken" in request.args:
                state = {**state, "since": state["snap"], "snap": double.data.current_seq(),
                         "after": ""}
        else:
            state = {"c": container, "since": 0, "snap": double.data.current_seq(),
                     "gen": box.generation, **initial}
        items, following = double.data.delta_page(box, state, page_size(),
                                                  lambda item: keep(item, state))
        body: dict[str, Any] = {"@odata.context": f"{double.base_url}/v1.0/$metadata"}
        link = f"{double.base_url}{request.path}"
        if following is not None:
            body["@odata.nextLink"] = f"{link}?$skiptoken={encode_token(following)}"
        else:
            body["@odata.deltaLink"] = f"{link}?$deltatoken={encode_token(state)}"
        body["value"] = [project(item, state.get("select")) for item in items]
        return jsonify(body)

    def project(item: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        if not select or "@removed" in item:
            return item
        wanted = set(select) | set(ALWAYS)
        out = {k: v for k, v in item.items() if k in wanted}
        if "body" in out and "text" not in request.headers.get("Prefer", ""):
            out["body"] = {"contentType": "html",
                           "content": f"<html><body>{out['body']['content']}</body></html>"}
        return out

    def select_arg() -> list[str] | None:
        raw = request.args.get("$select")
        return [part.strip() for part in raw.split(",")] if raw else None

    @app.get("/v1.0/users/<user>/mailFolders/delta")
    def mail_folders_delta(user: str):
        box, error = user_box(user)
        if error is not None:
            return error
        return jsonify({"@odata.deltaLink": f"{double.base_url}{request.path}?$deltatoken=x",
                        "value": list(box.folders.values())})

    @app.get("/v1.0/users/<user>/mailFolders/<folder>")
    def mail_folder(user: str, folder: str):
        """https://learn.microsoft.com/graph/api/mailfolder-get (with its item counts)."""
        box, folder_id, error = user_folder(user, folder)
        if error is not None:
            return error
        total = sum(1 for item in box.items.values() if item.container == folder_id)
        return jsonify({**box.folders[folder_id], "totalItemCount": total,
                        "unreadItemCount": 0, "childFolderCount": 0})

    @app.get("/v1.0/users/<user>/mailFolders/<folder>/messages/delta")
    def messages_delta(user: str, folder: str):
        box, folder_id, error = user_folder(user, folder)
        if error is not None:
            return error
        since = _received_since(request.args.get("$filter", ""))

        def keep(item: Item, state: dict[str, Any]) -> bool:
            floor = state.get("received_ge")
            return not floor or item.data.get("receivedDateTime", "") >= floor

        return delta(box, folder_id, {"select": select_arg(), "received_ge": since}, keep)

    @app.get("/v1.0/users/<user>/calendarView/delta")
    def calendar_view_delta(user: str):
        box, error = user_box(user)
        if error is not None:
            return error
        window = {"start": request.args.get("startDateTime", ""),
                  "end": request.args.get("endDateTime", ""), "select": select_arg()}
        if "$skiptoken" not in request.args and "$deltatoken" not in request.args and not (
                window["start"] and window["end"]):
            return graph_error(400, "ErrorInvalidParameter",
                               "startDateTime and endDateTime are required.")

        def keep(item: Item, state: dict[str, Any]) -> bool:
            start = _utc(item.data["start"]["dateTime"])
            return _utc(state["start"]) <= start < _utc(state["end"])

        return delta(box, "calendar", window, keep)

    @app.get("/v1.0/users/<user>/contacts/delta")
    def contacts_delta(user: str):
        box, error = user_box(user)
        if error is not None:
            return error
        return delta(box, "contacts", {"select": select_arg()}, lambda item, state: True)

    @app.get("/v1.0/users/<user>/messages/<item_id>/attachments")
    def attachments(user: str, item_id: str):
        box, error = user_box(user)
        if error is not None:
            return error
        item = box.items.get(item_id)
        if item is None:
            return graph_error(404, "ErrorItemNotFound", "The specified object was not found.")
        return jsonify(value=[{"@odata.type": "#microsoft.graph.fileAttachment", **a}
                              for a in item.data.get("attachments", [])])

    @app.post("/v1.0/users/<user>/sendMail")
    def send_mail(user: str):
        box, error = user_box(user)
        if error is not None:
            return error
        payload = _send_mail_body()
        double.sent.append({"from": box.address, **payload})
        if payload.get("saveToSentItems", True):
            message = dict(payload["message"])
            message.setdefault("from", {"emailAddress": {"address": box.address}})
            message.setdefault("sentDateTime", iso(datetime.now(UTC)))
            message.setdefault("receivedDateTime", message["sentDateTime"])
            message.setdefault("internetMessageId", f"<{secrets.token_hex(8)}@fake.outlook>")
            double.data.put(box.address, box.folder_id("sentitems"), message)
        return "", 202

    from tests.fakes.graph_events import install_event_routes

    install_event_routes(app, double, user_box, graph_error)

    @app.post("/v1.0/$batch")
    def batch():
        denied = authorize()
        if denied is not None:
            return denied
        requests_in = request.get_json().get("requests", [])
        if len(requests_in) > 20:
            return graph_error(400, "BadRequest", "Batch size limit of 20 exceeded.")
        client = app.test_client()
        responses = []
        for item in requests_in:
            headers = {**item.get("headers", {}), "X-Batch-Item": "1",
                       "Authorization": request.headers["Authorization"]}
            answer = client.open(f"/v1.0{item['url']}", method=item["method"],
                                 headers=headers, json=item.get("body"))
            responses.append({"id": item["id"], "status": answer.status_code,
                              "headers": {k: v for k, v in answer.headers.items()
                                          if k in ("Retry-After", "Content-Type")},
                              "body": answer.get_json(silent=True)})
            answer.close()
        return jsonify(responses=responses)

    @app.post("/v1.0/subscriptions")
    def create_subscription():
        denied = authorize()
        if denied is not None:
            return denied
        body = request.get_json()
        if not subscription_expiry_ok(body["expirationDateTime"]):
            return graph_error(400, "ExtensionError", "Subscription expiration can only be "
                               f"{MAX_SUBSCRIPTION_MINUTES} minutes in the future.")
        for url in filter(None, (body["notificationUrl"], body.get("lifecycleNotificationUrl"))):
            if not double.validate_endpoint(url):
                return graph_error(400, "ValidationError",
                                   "Subscription validation request failed.")
        sub = {**body, "id": secrets.token_hex(16), "applicationId": "app",
               "creatorId": "creator"}
        double.subscriptions[sub["id"]] = sub
        return jsonify({k: v for k, v in sub.items() if k != "clientState"}), 201

    @app.patch("/v1.0/subscriptions/<sub_id>")
    def renew_subscription(sub_id: str):
        denied = authorize()
        if denied is not None:
            return denied
        sub = double.subscriptions.get(sub_id)
        if sub is None:
            return graph_error(404, "ResourceNotFound", "The object was not found.")
        requested = request.get_json()["expirationDateTime"]
        if not subscription_expiry_ok(requested):
            return graph_error(400, "ExtensionError", "Expiration too far in the future.")
        sub["expirationDateTime"] = requested
        return jsonify({k: v for k, v in sub.items() if k != "clientState"})

    @app.delete("/v1.0/subscriptions/<sub_id>")
    def delete_subscription(sub_id: str):
        denied = authorize()
        if denied is not None:
            return denied
        if double.subscriptions.pop(sub_id, None) is None:
            return graph_error(404, "ResourceNotFound", "The object was not found.")
        return "", 204

    @app.errorhandler(404)
    def not_found(_error):
        return graph_error(400, "BadRequest", f"Resource not found for the segment "
                           f"'{urlsplit(request.path).path}'.")


def _send_mail_body() -> dict[str, Any]:
    """The JSON form, or the MIME form (base64 MIME, ``text/plain``) turned into it."""
    if not (request.content_type or "").startswith("text/plain"):
        return request.get_json()
    parsed = message_from_bytes(base64.b64decode(request.get_data()))
    headers = [{"name": k, "value": v} for k, v in parsed.items()]
    body = parsed.get_payload(decode=True) or b""
    message_id = {"internetMessageId": parsed["Message-ID"]} if parsed["Message-ID"] else {}
    return {"mime": True, "message": {
        **message_id,  # Exchange keeps the Message-ID of a MIME sendMail
        "subject": parsed["Subject"], "internetMessageHeaders": headers,
        "toRecipients": [{"emailAddress": {"address": a.strip()}}
                         for a in str(parsed["To"]).split(",")],
        "body": {"contentType": "text", "content": body.decode("utf-8", "replace")}}}


def _received_since(filter_text: str) -> str | None:
    found = re.search(r"receivedDateTime ge ([0-9TZ:\-]+)", filter_text)
    return found.group(1) if found else None


def _utc(text: str) -> datetime:
    text = text.rstrip("Z")
    if "." in text:
        text = text.split(".")[0]
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def far_future(minutes: int) -> str:
    return iso(datetime.now(UTC) + timedelta(minutes=minutes))
