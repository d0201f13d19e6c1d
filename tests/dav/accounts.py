"""A Radicale account as a person's calendar app and address book would change it."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import requests

from tests.servers.radicale import DavUser, RadicaleServer

_items = itertools.count(1)

MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>
<d:displayname>{name}</d:displayname></d:prop></d:set></c:mkcalendar>"""
MKADDRESSBOOK = """<?xml version="1.0" encoding="utf-8"?>
<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>
<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>
<d:displayname>{name}</d:displayname></d:prop></d:set></d:mkcol>"""


@dataclass
class DavAccount:
    """One user's collections on Radicale, changed over plain HTTP as a client app does."""

    server: RadicaleServer
    user: DavUser
    session: requests.Session

    @classmethod
    def create(cls, server: RadicaleServer) -> DavAccount:
        user = server.new_user()
        session = requests.Session()
        session.auth = (user.username, user.password)
        session.verify = server.ca_path
        account = cls(server, user, session)
        account.request("MKCALENDAR", "work/", MKCALENDAR.format(name="Work"))
        account.request("MKCOL", "people/", MKADDRESSBOOK.format(name="People"))
        return account

    def url(self, path: str) -> str:
        return self.user.principal_url + path

    def request(self, method: str, path: str, body: str = "",
                headers: dict[str, str] | None = None) -> requests.Response:
        response = self.session.request(method, self.url(path), data=body.encode(),
                                        headers=headers or {})
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response

    def make_address_book(self, slug: str, name: str) -> None:
        self.request("MKCOL", f"{slug}/", MKADDRESSBOOK.format(name=name))

    def put_event(self, ics: str, name: str | None = None) -> str:
        """Store a calendar object in ``work``; return its href (the item id)."""
        name = name or f"event-{next(_items)}.ics"
        self.request("PUT", f"work/{name}", ics, {"Content-Type": "text/calendar"})
        return f"/{self.user.username}/work/{name}"

    def put_card(self, vcard: str, name: str | None = None, book: str = "people") -> str:
        """Store a vCard in ``book``; return its href."""
        name = name or f"card-{next(_items)}.vcf"
        self.request("PUT", f"{book}/{name}", vcard, {"Content-Type": "text/vcard"})
        return f"/{self.user.username}/{book}/{name}"

    def get(self, href: str) -> requests.Response:
        return self.session.get(self.server.base_url + href)

    def delete(self, href: str) -> None:
        response = self.session.delete(self.server.base_url + href)
        assert response.status_code in (200, 204), response.status_code

    def members(self, book: str) -> dict[str, str]:
        """href → body of every item of a collection (what a client app would show)."""
        listing = self.session.request(
            "PROPFIND", self.url(f"{book}/"), headers={"Depth": "1"},
            data=b'<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>')
        hrefs = [h for h in re.findall(r"<href>([^<]+)</href>", listing.text)
                 if not h.endswith("/")]
        return {h: self.get(h).text for h in hrefs}
