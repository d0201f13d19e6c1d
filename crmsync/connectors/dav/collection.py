"""What changed in one collection since a cursor, and the items' data.

A collection that offers RFC 6578 (a ``sync-token`` property) is asked with one
``sync-collection`` REPORT: the changed members and the removed ones since the token. A
token the server refuses (403/409 ``valid-sync-token``) starts the collection over,
marked ``resync``. Without sync tokens (or with ``sync_tokens`` off) the collection's
CTag (``getctag``, CalendarServer's extension) says whether anything changed at all, and
a ``Depth: 1`` PROPFIND of the members' ETags, compared with those the cursor keeps,
says what. Data comes by ``calendar-multiget``/``addressbook-multiget`` in batches.

https://www.rfc-editor.org/rfc/rfc6578 (sync-collection),
https://www.rfc-editor.org/rfc/rfc4791#section-7.9 (calendar-multiget),
https://www.rfc-editor.org/rfc/rfc6352#section-8.7 (addressbook-multiget)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import caldav

from crmsync.connectors.dav.client import (
    NS,
    DavStatusError,
    multistatus,
    path_of,
    propfind,
    send,
    xmlns,
)
from crmsync.errors import AuthError

#: hrefs per multiget REPORT
MULTIGET_BATCH = 50


@dataclass
class Listing:
    """The members to fetch and those gone, and the state after them.

    :param state: what the cursor keeps: ``{"token": ...}`` or ``{"ctag": ..., "etags":
        {href: etag}}`` (the members' ETags as stored).
    """

    changed: list[str]
    deleted: list[str]
    state: dict[str, Any]
    resync: bool = False
    etags: dict[str, str] = field(default_factory=dict)


def list_changes(client: caldav.DAVClient, url: str, saved: dict[str, Any],
                 use_tokens: bool) -> Listing:
    """What changed in the collection at ``url`` since the ``saved`` state (empty: all)."""
    about = propfind(client, url, "<d:sync-token/><cs:getctag/>", 0)
    token = about.findtext(".//d:sync-token", "", NS).strip()
    ctag = about.findtext(".//cs:getctag", "", NS).strip()
    if use_tokens and token:
        return _sync_collection(client, url, saved.get("token"))
    if saved.get("ctag") and saved["ctag"] == ctag:  # nothing changed at all
        return Listing([], [], dict(saved))
    return _compare_etags(client, url, dict(saved.get("etags") or {}), ctag)


def _sync_collection(client: caldav.DAVClient, url: str, token: str | None) -> Listing:
    body = (f'<?xml version="1.0" encoding="utf-8"?><d:sync-collection {xmlns()}>'
            f"<d:sync-token>{escape(token or '')}</d:sync-token><d:sync-level>1</d:sync-level>"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>")
    try:
        response = send(client, "REPORT", url, body, {"Depth": "1"})
    except AuthError:
        # caldav reports 403 as a refused sign-in; after a token it is the token's refusal
        if not token:
            raise
        response = None
    if response is None or response.status in (403, 409):
        if not token:
            raise DavStatusError(response.status if response else 403, url)
        listing = _sync_collection(client, url, None)
        listing.resync = True
        return listing
    if response.status != 207:
        raise DavStatusError(response.status, url)
    tree = multistatus(response)
    changed, deleted, etags = [], [], {}
    own = path_of(url).rstrip("/")
    for item in tree.findall("d:response", NS):
        href = item.findtext("d:href", "", NS).strip()
        if not href or href.rstrip("/") == own:
            continue
        if "404" in item.findtext("d:status", "", NS):
            deleted.append(href)
        else:
            changed.append(href)
            etags[href] = item.findtext(".//d:getetag", "", NS)
    new_token = tree.findtext("d:sync-token", "", NS).strip()
    return Listing(changed, deleted, {"token": new_token}, etags=etags)


def _compare_etags(client: caldav.DAVClient, url: str, known: dict[str, str],
                   ctag: str) -> Listing:
    tree = propfind(client, url, "<d:getetag/><d:resourcetype/>", 1)
    own = path_of(url).rstrip("/")
    now: dict[str, str] = {}
    for item in tree.findall("d:response", NS):
        href = item.findtext("d:href", "", NS).strip()
        if href and href.rstrip("/") != own and item.find(".//d:resourcetype/*", NS) is None:
            now[href] = item.findtext(".//d:getetag", "", NS)
    changed = [href for href, etag in now.items() if known.get(href) != etag]
    deleted = [href for href in known if href not in now]
    return Listing(changed, deleted, {"ctag": ctag, "etags": now}, etags=now)


def state_after(saved: dict[str, Any], listing: Listing, done: list[str]) -> dict[str, Any]:
    """The state a page that stored only ``done`` (of ``listing.changed``) resumes from.

    With a token, the old one: a crash lists the same changes again, and storing them
    twice is harmless. With ETags, those of the members stored so far (and no CTag, so
    that the next run lists again).
    """
    if "token" in listing.state:
        return dict(saved) if "token" in saved else {}
    etags = {h: e for h, e in (saved.get("etags") or {}).items() if h not in listing.deleted}
    etags.update((href, listing.etags.get(href, "")) for href in done)
    return {"etags": etags}


def multiget(client: caldav.DAVClient, url: str, hrefs: list[str], kind: str
             ) -> Iterator[tuple[str, str, bytes]]:
    """Yield ``(href, etag, data)`` of ``hrefs`` in batches; a member gone meanwhile is
    left out (its removal comes with the next listing).

    :param kind: ``calendar`` or ``addressbook``.
    """
    ns, data = ("c", "calendar-data") if kind == "calendar" else ("card", "address-data")
    for start in range(0, len(hrefs), MULTIGET_BATCH):
        batch = hrefs[start:start + MULTIGET_BATCH]
        body = (f'<?xml version="1.0" encoding="utf-8"?><{ns}:{kind}-multiget {xmlns()}>'
                f"<d:prop><d:getetag/><{ns}:{data}/></d:prop>"
                + "".join(f"<d:href>{escape(h)}</d:href>" for h in batch)
                + f"</{ns}:{kind}-multiget>")
        response = send(client, "REPORT", url, body, {"Depth": "1"})
        if response.status != 207:
            raise DavStatusError(response.status, url)
        for item in multistatus(response).findall("d:response", NS):
            text = item.findtext(f".//{ns}:{data}", None, NS)
            if text is not None:
                yield (item.findtext("d:href", "", NS).strip(),
                       item.findtext(".//d:getetag", "", NS), text.encode("utf-8"))
