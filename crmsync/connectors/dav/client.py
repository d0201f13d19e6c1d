"""The WebDAV conversation: caldav's ``DAVClient`` under crmsync's network rule.

caldav (python-caldav) signs in (Basic or Digest, as the server asks), finds the
principal (``current-user-principal``) and lists its
calendars. CardDAV and RFC 6578 are not in its 1.x API, so those requests are built here
and sent through the same client (:func:`send`), which maps the server's answers to
crmsync's errors. Every request goes through
:class:`~crmsync.connectors.https.PinnedAdapter`: https only, port 443 or an allowed
private network, at the address that was checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import caldav
import requests
from caldav.lib import error as dav_error
from lxml import etree

from crmsync.connectors.contact_folders import CRM_FOLDER
from crmsync.connectors.dav.settings import DavSettings
from crmsync.connectors.https import PinnedAdapter, ca_bundle
from crmsync.errors import AuthError, ConfigError, CrmSyncError, TransientError

NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav",
      "card": "urn:ietf:params:xml:ns:carddav", "cs": "http://calendarserver.org/ns/"}
#: seconds a request may take before the run ends with a TransientError
TIMEOUT = 60
#: the address book crmsync writes the CRM's contacts to (never read as the rep's own)
CRM_BOOK = CRM_FOLDER


class DavStatusError(CrmSyncError):
    """The server answered a request with a status the caller did not expect."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"the DAV server answered {status} for {url}")
        self.status = status


def open_client(settings: DavSettings, password: str) -> caldav.DAVClient:
    """A client for the account, every request pinned to a checked address."""
    client = caldav.DAVClient(url=settings.url, username=settings.username,
                              password=password, ssl_verify_cert=ca_bundle(), timeout=TIMEOUT)
    client.session.mount("https://", PinnedAdapter())
    client.session.mount("http://", PinnedAdapter())  # refused, as every non-https URL
    return client


@contextmanager
def library_errors(what: str) -> Iterator[None]:
    """caldav's and requests' exceptions as crmsync's errors.

    :raises AuthError: the sign-in was refused (caldav reports 401 and 403 alike).
    :raises TransientError: the server was not reached.
    :raises ConfigError: any other answer caldav could not use, naming ``what``.
    """
    try:
        yield
    except dav_error.AuthorizationError as exc:
        raise AuthError(f"the DAV server refused the sign-in ({exc.reason})") from exc
    except requests.RequestException as exc:
        raise TransientError(f"the DAV server could not be reached: {exc}") from exc
    except dav_error.DAVError as exc:
        raise ConfigError(f"{what}: {exc}") from exc


def send(client: caldav.DAVClient, method: str, url: str, body: str = "",
         headers: dict[str, str] | None = None) -> Any:
    """Send one request; return caldav's response (``status``, ``headers``, ``tree``).

    :raises AuthError: the sign-in was refused (401, or 403 on the account's own data).
    :raises TransientError: the server was not reached, throttled (429, 503 with its
        ``Retry-After``) or failed (5xx).
    """
    with library_errors(f"{method} {url} failed"):
        response = client.request(url, method, body, headers or {})
    if response.status in (429, 503) or response.status >= 500:
        retry = response.headers.get("Retry-After", "")
        raise TransientError(f"the DAV server answered {response.status}",
                             retry_after=float(retry) if retry.isdigit() else None)
    return response


def propfind(client: caldav.DAVClient, url: str, props: str, depth: int) -> etree._Element:
    """PROPFIND ``props`` (XML elements, namespaces of :data:`NS`); the multistatus."""
    body = (f'<?xml version="1.0" encoding="utf-8"?><d:propfind {xmlns()}><d:prop>{props}'
            "</d:prop></d:propfind>")
    response = send(client, "PROPFIND", url, body, {"Depth": str(depth)})
    if response.status != 207:
        raise DavStatusError(response.status, url)
    return multistatus(response)


def multistatus(response: Any) -> etree._Element:
    tree = response.tree
    if tree is None or etree.QName(tree).localname != "multistatus":
        raise TransientError("the DAV server's answer is not a WebDAV multistatus")
    return tree


def xmlns() -> str:
    """The namespace declarations request bodies use."""
    return " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())


def absolute(base: str, href: str) -> str:
    """An href as a URL on the server of ``base``."""
    return urljoin(base, href)


def path_of(url: str) -> str:
    """The path of a URL, as servers write hrefs (the item ids of this connector)."""
    return urlsplit(url).path


def principal_url(client: caldav.DAVClient) -> str:
    """The account's principal, found by caldav (current-user-principal)."""
    with library_errors("no CalDAV/CardDAV account found at this URL"):
        return str(client.principal().url)


def first_calendar(client: caldav.DAVClient) -> str:
    """The URL of the account's first calendar that holds events.

    :raises ConfigError: the account has none.
    """
    with library_errors("the account's calendars could not be listed"):
        calendars = client.principal().calendars()
    if not calendars:
        raise ConfigError("the DAV account has no calendar",
                          ["create one, or add the mailbox with --no-calendar"])
    return str(calendars[0].url)


def addressbook_home(client: caldav.DAVClient) -> str | None:
    """The URL of the account's address-book home (RFC 6352 addressbook-home-set)."""
    principal = principal_url(client)
    found = propfind(client, principal, "<card:addressbook-home-set/>", 0)
    home = found.find(".//card:addressbook-home-set/d:href", NS)
    if home is None or not (home.text or "").strip():
        return None
    return absolute(principal, home.text.strip())


def address_books(client: caldav.DAVClient, home_url: str | None = None) -> dict[str, str]:
    """The account's address books: URL → display name."""
    home_url = home_url or addressbook_home(client)
    if home_url is None:
        return {}
    listing = propfind(client, home_url, "<d:resourcetype/><d:displayname/>", 1)
    books = {}
    for response in listing.findall("d:response", NS):
        if response.find(".//d:resourcetype/card:addressbook", NS) is None:
            continue
        href = response.findtext("d:href", "", NS).strip()
        books[absolute(home_url, href)] = response.findtext(".//d:displayname", "", NS) or ""
    return books


def is_crm_book(url: str, name: str) -> bool:
    """Whether an address book is the one crmsync writes (by name, or its ``crm`` path)."""
    return name == CRM_BOOK or url.rstrip("/").endswith("/crm")


def own_address_book(client: caldav.DAVClient) -> str:
    """The URL of the rep's own address book: the first that is not :data:`CRM_BOOK`.

    :raises ConfigError: the account has none.
    """
    for url, name in address_books(client).items():
        if not is_crm_book(url, name):
            return url
    raise ConfigError("the DAV account has no address book",
                      ["create one, or add the mailbox with --no-contacts"])
