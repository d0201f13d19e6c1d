"""Find a mailbox's EWS URL with POX Autodiscover, once, when asked (``--autodiscover``).

MSDN: https://learn.microsoft.com/exchange/client-developer/web-service-reference/pox-autodiscover-web-service-reference-for-exchange

Autodiscover is where Exchange clients leak passwords: a DNS record, an HTTP redirect or
an answer's ``redirectUrl`` / ``redirectAddr`` can name any host, and a client that
follows it signs in there (rule A6). So this client, unlike exchangelib's (SOAP
Autodiscover, which also tries plain http, DNS SRV records and other domains' redirects,
and caches per process), keeps to:

* two URLs only, both on the address's own domain:
  ``https://<domain>/autodiscover/autodiscover.xml``, then
  ``https://autodiscover.<domain>/autodiscover/autodiscover.xml``;
* credentials (Basic or NTLM, as the mailbox signs in) sent only to hosts in that domain
  (the domain itself or a name under it): a redirect of any kind elsewhere is refused,
  naming the host, before anything is sent there;
* every request through :func:`~crmsync.connectors.https.pinned_session` (https, 443 or
  an allowed network, a public address, TLS verified for the name);
* the EWS URL found must pass the same rules (https, in the domain, a public address),
  and an Exchange Online one is refused with the pointer to ``mailbox add graph``.

The URL found is stored as the mailbox's ``url``: syncing never autodiscovers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.sax.saxutils import escape

import requests
from defusedxml import ElementTree
from requests.auth import AuthBase, HTTPBasicAuth
from requests_ntlm import HttpNtlmAuth

from crmsync.connectors.ews.settings import EXCHANGE_ONLINE, is_exchange_online
from crmsync.connectors.https import ca_bundle, check_url, https_host, pinned_session
from crmsync.connectors.network import REFUSED
from crmsync.errors import ConfigError

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
#: redirects followed within the domain before giving up on one URL
MAX_HOPS = 5
#: seconds one Autodiscover request may take
TIMEOUT = 30
#: the EWS URLs of an answer, in the order taken: the external one, then the internal one
PROTOCOL_TYPES = ("EXPR", "EXCH")


@dataclass(frozen=True)
class SignIn:
    """How the mailbox signs in: the same credentials go to Autodiscover.

    :param auth: ``ntlm`` or ``basic``.
    """

    username: str
    password: str
    auth: str

    def requests_auth(self) -> AuthBase:
        if self.auth == "ntlm":
            return HttpNtlmAuth(self.username, self.password)
        return HTTPBasicAuth(self.username, self.password)


@dataclass(frozen=True)
class Answer:
    """What an Autodiscover response says: settings (an EWS URL) or where to ask again."""

    action: str  # "settings", "redirectAddr" or "redirectUrl"
    ews_url: str = ""
    redirect: str = ""


class Unanswered(Exception):
    """One Autodiscover URL gave no usable answer; the next one is tried."""


def discover_ews_url(address: str, sign_in: SignIn, verify: str | bool | None = None) -> str:
    """Return the EWS URL Autodiscover gives for ``address``, checked against rule A6.

    :param verify: the TLS trust (a CA bundle path, or True for certifi's); by default
        ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE`` when set, as for EWS itself.
    :raises ConfigError: no URL answered (each one's reason listed; a redirect to another
        domain names the host it was refused), or the EWS URL found is refused:
        :data:`~crmsync.connectors.network.REFUSED` (not https, outside the domain, not a
        public address) or Exchange Online.
    """
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    if not domain:
        raise ConfigError("Autodiscover needs the mailbox's address (--address)", [address])
    session = pinned_session(ca_bundle() if verify is None else verify)
    reasons = []
    for url in (f"https://{domain}/autodiscover/autodiscover.xml",
                f"https://autodiscover.{domain}/autodiscover/autodiscover.xml"):
        try:
            found = _ask(session, url, address, domain, sign_in)
        except Unanswered as exc:
            reasons.append(f"{url}: {exc}")
            continue
        return checked_ews_url(found, domain)
    raise ConfigError(f"Autodiscover found no EWS URL for {address}: give the URL with "
                      "--url instead", reasons)


def checked_ews_url(url: str, domain: str) -> str:
    """Return ``url`` if the mailbox may be synced there, else refuse it.

    :raises ConfigError: Exchange Online (use ``mailbox add graph``), or
        :data:`~crmsync.connectors.network.REFUSED`: not https, a host outside ``domain``,
        or an address that is not public.
    """
    if is_exchange_online(url):
        raise ConfigError(EXCHANGE_ONLINE, [f"Autodiscover answered {url}"])
    try:
        host, _ = https_host(url)
        if not in_domain(host, domain):
            raise ConfigError(REFUSED)
        check_url(url)
    except ConfigError:
        raise ConfigError(REFUSED, [f"Autodiscover answered {url}"]) from None
    return url


def in_domain(host: str, domain: str) -> bool:
    """Whether ``host`` is ``domain`` or a name under it (where credentials may go)."""
    host = host.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def _ask(session: requests.Session, url: str, address: str, domain: str,
         sign_in: SignIn) -> str:
    """POST the Autodiscover request to ``url``, following redirects within ``domain``.

    :raises Unanswered: why this URL gave no EWS URL.
    """
    for _ in range(MAX_HOPS):
        _refuse_foreign(url, domain)
        response = _post(session, url, address, sign_in)
        if response.is_redirect:  # HTTP 301/302/307/308: POST again, at the new URL
            url = urljoin(url, response.headers.get("Location", ""))
            continue
        if response.status_code == 401:
            raise Unanswered("the sign-in was refused (HTTP 401): check the user name and "
                             "password")
        if response.status_code != 200:
            raise Unanswered(f"HTTP {response.status_code}")
        answer = parse_answer(response.content)
        if answer.action == "redirectUrl":
            url = answer.redirect
        elif answer.action == "redirectAddr":
            redirected = answer.redirect.rpartition("@")[2].lower()
            if not in_domain(redirected, domain):
                raise Unanswered(f"redirected to the address {answer.redirect}, outside "
                                 f"{domain}: refused (credentials go to {domain} only)")
            address = answer.redirect
        else:
            return answer.ews_url
    raise Unanswered(f"more than {MAX_HOPS} redirects")


def _refuse_foreign(url: str, domain: str) -> None:
    """Refuse a URL credentials may not go to, naming its host."""
    host = urlsplit(url).hostname or url
    if not in_domain(host, domain):
        raise Unanswered(f"redirected to {host}, outside {domain}: refused (credentials "
                         f"go to {domain} only)")
    try:
        check_url(url)
    except ConfigError as exc:
        raise Unanswered(f"{host}: {exc}") from None


def _post(session: requests.Session, url: str, address: str,
          sign_in: SignIn) -> requests.Response:
    body = (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{REQUEST_NS}">'
            f"<Request><EMailAddress>{escape(address)}</EMailAddress>"
            f"<AcceptableResponseSchema>{RESPONSE_NS}</AcceptableResponseSchema>"
            "</Request></Autodiscover>")
    try:
        return session.post(url, data=body.encode(), auth=sign_in.requests_auth(),
                            headers={"Content-Type": "text/xml; charset=utf-8"},
                            allow_redirects=False, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise Unanswered(f"not reached ({type(exc).__name__})") from None


def parse_answer(content: bytes) -> Answer:
    """Read a POX Autodiscover response (elements matched by local name).

    :raises Unanswered: not an Autodiscover response, an Error response, or one without
        an EWS URL.
    """
    try:
        root = ElementTree.fromstring(content)
    except Exception as exc:  # defusedxml's refusals and ParseError alike
        raise Unanswered(f"not an Autodiscover response ({type(exc).__name__})") from None
    account = _child(_child(root, "Response"), "Account")
    if account is None:
        error = _text(_child(_child(root, "Response"), "Error"), "Message")
        raise Unanswered(f"Autodiscover answered an error: {error or 'no Account'}")
    action = _text(account, "Action")
    if action == "redirectAddr":
        return Answer(action, redirect=_text(account, "RedirectAddr"))
    if action == "redirectUrl":
        return Answer(action, redirect=_text(account, "RedirectUrl"))
    urls = {_text(p, "Type"): _text(p, "EwsUrl") for p in _children(account, "Protocol")}
    for kind in PROTOCOL_TYPES:
        if urls.get(kind):
            return Answer("settings", ews_url=urls[kind])
    raise Unanswered("the answer holds no EWS URL")


def _children(element: Any, name: str) -> list[Any]:
    if element is None:
        return []
    return [c for c in element if isinstance(c.tag, str) and c.tag.rpartition("}")[2] == name]


def _child(element: Any, name: str) -> Any:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: Any, name: str) -> str:
    child = _child(element, name)
    return (child.text or "").strip() if child is not None else ""
