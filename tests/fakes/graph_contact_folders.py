"""The Graph double's contact folders and the contacts in them, with change keys.

https://learn.microsoft.com/graph/api/user-list-contactfolders (``$filter`` on
``displayName``), user-post-contactfolders, contactfolder-list-contacts,
contactfolder-post-contacts, contact-update, contact-delete.

A contact's ``changeKey`` (and ``@odata.etag``, ``W/"<changeKey>"``) is new after every
change, ours or one made "in Outlook" (``double.data.update``); an update or delete with
an ``If-Match`` naming another version answers 412, as Exchange Online does.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, jsonify, request

from tests.fakes.graph_data import FakeMailbox, Item

CONTACT_FIELDS = ("displayName", "givenName", "surname", "emailAddresses", "businessPhones",
                  "mobilePhone", "jobTitle", "companyName")


def container(folder_id: str) -> str:
    """The double's container of a contact folder's items."""
    return f"contactFolder:{folder_id}"


def contact_json(item: Item) -> dict[str, Any]:
    key = f"CQAAABYAAAC{item.seq:08d}"
    return {**item.data, "changeKey": key, "@odata.etag": f'W/"{key}"',
            "parentFolderId": item.container.split(":", 1)[1]}


def install_contact_folder_routes(app: Flask, double) -> None:
    from tests.fakes.graph_server import graph_error

    #: address → folder id → folder
    folders: dict[str, dict[str, dict[str, Any]]] = {}
    double.contact_folders = folders

    def box_or_error(user: str) -> tuple[FakeMailbox | None, Any]:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in double.tokens:
            return None, graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        box = double.data.mailbox(user)
        if box is None:
            return None, graph_error(404, "ErrorInvalidUser", "The requested user is invalid.")
        return box, None

    def not_found():
        return graph_error(404, "ErrorItemNotFound", "The specified object was not found.")

    def contact_of(box: FakeMailbox, item_id: str) -> Item | None:
        item = box.items.get(item_id)
        return item if item is not None and item.container.startswith("contactFolder:") else None

    def precondition_failed(item: Item):
        wanted = request.headers.get("If-Match")
        if wanted and wanted not in ("*", contact_json(item)["@odata.etag"]):
            return graph_error(412, "ErrorIrresolvableConflict",
                               "The send or update operation could not be performed because "
                               "the change key passed in the request does not match the "
                               "current change key for the item.")
        return None

    @app.get("/v1.0/users/<user>/contactFolders")
    def list_contact_folders(user: str):
        box, error = box_or_error(user)
        if error is not None:
            return error
        found = list(folders.get(box.address, {}).values())
        match = re.fullmatch(r"displayName eq '(.*)'", request.args.get("$filter", ""))
        if match:
            found = [f for f in found if f["displayName"] == match.group(1).replace("''", "'")]
        return jsonify(value=found)

    @app.post("/v1.0/users/<user>/contactFolders")
    def create_contact_folder(user: str):
        box, error = box_or_error(user)
        if error is not None:
            return error
        name = str((request.get_json() or {}).get("displayName") or "")
        mine = folders.setdefault(box.address, {})
        if any(f["displayName"] == name for f in mine.values()):
            return graph_error(409, "ErrorFolderExists", "A folder with the specified name "
                               "already exists.")
        folder_id = double.data.new_id("CF")
        mine[folder_id] = {"id": folder_id, "displayName": name, "parentFolderId": "contacts"}
        return jsonify(mine[folder_id]), 201

    @app.get("/v1.0/users/<user>/contactFolders/<folder_id>/contacts")
    def list_folder_contacts(user: str, folder_id: str):
        box, error = box_or_error(user)
        if error is not None:
            return error
        if folder_id not in folders.get(box.address, {}):
            return not_found()
        with double.data.lock:
            items = [contact_json(i) for i in box.items.values()
                     if i.container == container(folder_id)]
        skip = int(request.args.get("$skip", "0"))
        size = int(request.args.get("$top", "10"))
        body: dict[str, Any] = {"value": items[skip:skip + size]}
        if skip + size < len(items):
            body["@odata.nextLink"] = (f"{double.base_url}{request.path}?$top={size}"
                                       f"&$skip={skip + size}")
        return jsonify(body)

    @app.post("/v1.0/users/<user>/contactFolders/<folder_id>/contacts")
    def create_folder_contact(user: str, folder_id: str):
        box, error = box_or_error(user)
        if error is not None:
            return error
        if folder_id not in folders.get(box.address, {}):
            return not_found()
        data = {k: v for k, v in (request.get_json() or {}).items() if k in CONTACT_FIELDS}
        item_id = double.data.put(box.address, container(folder_id), data)
        return jsonify(contact_json(box.items[item_id])), 201

    @app.patch("/v1.0/users/<user>/contacts/<item_id>")
    def update_contact(user: str, item_id: str):
        box, error = box_or_error(user)
        if error is not None:
            return error
        item = contact_of(box, item_id)
        if item is None:
            return not_found()
        refused = precondition_failed(item)
        if refused is not None:
            return refused
        fields = {k: v for k, v in (request.get_json() or {}).items() if k in CONTACT_FIELDS}
        double.data.update(box.address, item_id, **fields)
        return jsonify(contact_json(box.items[item_id]))

    @app.delete("/v1.0/users/<user>/contacts/<item_id>")
    def delete_contact(user: str, item_id: str):
        box, error = box_or_error(user)
        if error is not None:
            return error
        item = contact_of(box, item_id)
        if item is None:
            return not_found()
        refused = precondition_failed(item)
        if refused is not None:
            return refused
        double.data.delete(box.address, item_id)
        return "", 204

    def folder_contacts(address: str, name: str = "CRM") -> dict[str, dict[str, Any]]:
        """The contacts of the mailbox's folder ``name`` by id, as Graph returns them."""
        box = double.data.mailbox(address)
        ids = [fid for fid, f in folders.get(box.address, {}).items()
               if f["displayName"] == name]
        with double.data.lock:
            return {i.id: contact_json(i) for i in box.items.values()
                    if ids and i.container == container(ids[0])}

    double.folder_contacts = folder_contacts
