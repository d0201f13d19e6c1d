"""The Exchange double's writes to contacts: CreateFolder, and CreateItem, UpdateItem and
DeleteItem of contacts (the CRM contact folder a rep's sync keeps).

https://learn.microsoft.com/exchange/client-developer/web-service-reference/createfolder-operation
https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem-operation
(``ConflictResolution="NeverOverwrite"`` with an older ``ChangeKey``:
``ErrorIrresolvableConflict``), deleteitem-operation.

Installed into the double's handlers at import (:func:`install`); an item that is not a
contact goes on to the handler installed before.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from flask import Response
from lxml import etree

from tests.fakes.ews_data import EwsMailbox

Handler = Callable[[Any, Any], Response]

#: contact element → the double's property, for the single-valued fields
FIELDS = {"DisplayName": "display_name", "GivenName": "given_name", "Surname": "surname",
          "CompanyName": "company_name", "JobTitle": "job_title"}
#: FieldURI of a single-valued field → the double's property
URIS = {f"contacts:{element}": prop for element, prop in FIELDS.items()}
URIS["item:DisplayName"] = "display_name"


def install(handlers: dict[str, Handler]) -> None:
    """Add contact writes to the double's operation handlers."""
    from tests.fakes import ews_server as server

    before = handlers.get("CreateItem")

    def create_item(double: Any, call: Any) -> Response:
        items = server._folder_elements(call.body, "m:Items")
        if not items or any(etree.QName(i).localname != "Contact" for i in items):
            return before(double, call)
        box = double.mailboxes[call.address]
        saved = call.body.find("m:SavedItemFolderId", server.NS)
        messages = []
        with double.lock:
            folder = (server._folder_ref(box, saved[0]) if saved is not None and len(saved)
                      else box.folders[box.folder_id("contacts")])
            for element in items:
                item_id = box.add_contact(folder.id, **_contact_props(element))
                messages.append(server._success(
                    "CreateItem", f"<m:Items><t:Contact>{server._item_id(box.items[item_id])}"
                    "</t:Contact></m:Items>"))
        return server._response("CreateItem", messages)

    def create_folder(double: Any, call: Any) -> Response:
        box = double.mailboxes[call.address]
        parent_element = call.body.find("m:ParentFolderId", server.NS)
        messages = []
        with double.lock:
            parent = server._folder_ref(box, parent_element[0])
            for element in server._folder_elements(call.body, "m:Folders"):
                name = element.findtext("t:DisplayName", "", server.NS)
                if any(f.parent_id == parent.id and f.name.lower() == name.lower()
                       for f in box.folders.values()):
                    messages.append(server._error("CreateFolder", "ErrorFolderExists",
                                                  "A folder with the specified name already "
                                                  "exists."))
                    continue
                # Exchange answers a contacts folder (IPF.Contact) as a ContactsFolder
                folder_class = element.findtext("t:FolderClass", "", server.NS)
                kind = "contacts" if etree.QName(element).localname == "ContactsFolder" \
                    or folder_class.startswith("IPF.Contact") else "mail"
                folder = box.folders[box.add_folder(name, parent.id, kind)]
                messages.append(server._success(
                    "CreateFolder", f"<m:Folders><t:{folder.element}>"
                    f'<t:FolderId Id="{folder.id}" ChangeKey="AQAAAA=="/>'
                    f"</t:{folder.element}></m:Folders>"))
        return server._response("CreateFolder", messages)

    def update_item(double: Any, call: Any) -> Response:
        box = double.mailboxes[call.address]
        never = call.body.get("ConflictResolution") == "NeverOverwrite"
        messages = []
        with double.lock:
            for change in server._folder_elements(call.body, "m:ItemChanges"):
                messages.append(_update_one(server, box, change, never))
        return server._response("UpdateItem", messages)

    def delete_item(double: Any, call: Any) -> Response:
        box = double.mailboxes[call.address]
        messages = []
        with double.lock:
            for element in server._folder_elements(call.body, "m:ItemIds"):
                if element.get("Id") not in box.items:
                    messages.append(server._error("DeleteItem", "ErrorItemNotFound",
                                                  "The specified object was not found in "
                                                  "the store."))
                    continue
                box.delete_item(element.get("Id"))
                messages.append(server._success("DeleteItem", ""))
        return server._response("DeleteItem", messages)

    handlers.update({"CreateItem": create_item, "CreateFolder": create_folder,
                     "UpdateItem": _chained(update_item, handlers.get("UpdateItem")),
                     "DeleteItem": _chained(delete_item, handlers.get("DeleteItem"))})


def _chained(mine: Handler, before: Handler | None) -> Handler:
    """``mine`` for contacts, ``before`` (when another part of the double handles the
    operation) for anything else."""
    from tests.fakes import ews_server as server

    def handler(double: Any, call: Any) -> Response:
        box = double.mailboxes[call.address]
        ids = [e.get("Id") for e in call.body.iter(f"{{{server.TNS}}}ItemId")]
        theirs = any(i in box.items and box.items[i].kind != "Contact" for i in ids) or \
            any(True for _ in call.body.iter(f"{{{server.TNS}}}OccurrenceItemId"))
        return before(double, call) if before is not None and theirs else mine(double, call)

    return handler


def _update_one(server: Any, box: EwsMailbox, change: Any, never: bool) -> str:
    ref = change.find("t:ItemId", server.NS)
    item = box.items.get(ref.get("Id"))
    if item is None:
        return server._error("UpdateItem", "ErrorItemNotFound",
                             "The specified object was not found in the store.")
    current = base64.b64encode(f"CK{item.change_key}".encode()).decode()
    if never and ref.get("ChangeKey") not in (None, current):
        return server._error("UpdateItem", "ErrorIrresolvableConflict",
                             "The send or update operation could not be performed because "
                             "the change key passed in the request does not match the "
                             "current change key for the item.")
    props: dict[str, object] = {}
    emails = dict(enumerate(item.props.get("emails") or [], start=1))  # type: ignore[arg-type]
    for update in change.find("t:Updates", server.NS):
        action = etree.QName(update).localname
        uri = update[0]
        index = uri.get("FieldIndex") or ""
        if uri.get("FieldURI") in URIS:
            name = URIS[uri.get("FieldURI")]
            value = update.findtext(f".//t:{_element(name)}", "", server.NS)
            props[name] = value if action == "SetItemField" else ""
        elif uri.get("FieldURI") == "contacts:EmailAddress" and index.startswith("EmailAddress"):
            n = int(index.removeprefix("EmailAddress"))
            if action == "SetItemField":
                emails[n] = update.findtext(".//t:Entry", "", server.NS)
            else:
                emails.pop(n, None)
        elif uri.get("FieldURI") == "contacts:PhoneNumber":
            entry = update.findtext(".//t:Entry", "", server.NS)
            props["phones"] = [entry] if action == "SetItemField" and entry else []
        elif action == "SetItemField":
            contact = update.find("t:Contact", server.NS)
            if contact is not None:
                props.update(_contact_props(contact))
    props["emails"] = [emails[n] for n in sorted(emails)]
    box.update_item(item.id, **props)
    return server._success("UpdateItem", f"<m:Items><t:Contact>{server._item_id(item)}"
                                         "</t:Contact></m:Items><m:ConflictResults>"
                                         "<t:Count>0</t:Count></m:ConflictResults>")


def _element(prop: str) -> str:
    return next(element for element, name in FIELDS.items() if name == prop)


def _contact_props(element: Any) -> dict[str, object]:
    from tests.fakes.ews_server import NS

    props: dict[str, object] = {
        prop: element.findtext(f"t:{name}", "", NS) for name, prop in FIELDS.items()
        if element.find(f"t:{name}", NS) is not None}
    entries = element.findall("t:EmailAddresses/t:Entry", NS)
    if entries:
        ordered = sorted(entries, key=lambda e: e.get("Key", ""))
        props["emails"] = [e.text or "" for e in ordered]
    phones = element.findall("t:PhoneNumbers/t:Entry", NS)
    if phones:
        props["phones"] = [p.text or "" for p in phones]
    return props
