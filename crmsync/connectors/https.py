"""HTTPS to a host someone configured (Graph's national clouds), under :mod:`.network`'s rule.

``mailbox add graph --authority-url/--graph-url`` name the sign-in and API hosts, so they
could point crmsync at the service's own network (SSRF) like a mail server's host could.
They get the same rule and the same :data:`~.network.REFUSED`: https only, port 443 (any
port on a network in ``CRMSYNC_ALLOWED_PRIVATE_NETWORKS``, as for mail servers), and a
public address, resolved once per request.

requests pools connections by host name and lets urllib3 resolve the name again for each
new connection, so a check made beforehand would not bind the connection. Instead
:class:`PinnedAdapter` checks every request it sends (each redirect hop included: requests
sends those through the adapter too) and gives urllib3 the checked address as the pool's
host, with the name as SNI, as the name the certificate must carry, and in ``Host``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from crmsync.connectors.network import HTTPS_PORTS, REFUSED, pin
from crmsync.errors import ConfigError


def ca_bundle() -> str | bool:
    """TLS trust: ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE`` when set, else certifi's."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True


def https_host(url: str) -> tuple[str, int]:
    """Return the host name and port of an https URL, without resolving anything.

    Settings use it to refuse a malformed or plain-http URL as soon as they are read.

    :raises ConfigError: (always :data:`~.network.REFUSED`) not https, no host, or a port
        that is not a number.
    """
    parts = urlsplit(url)
    try:
        port = parts.port or 443
    except ValueError:  # a port that is not a number, or out of range
        raise ConfigError(REFUSED) from None
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ConfigError(REFUSED)
    return parts.hostname, port


def check_url(url: str) -> tuple[str, str]:
    """Check that ``url`` may be requested; return its host name and the address to use.

    :raises ConfigError: (always :data:`~.network.REFUSED`) :func:`https_host` refuses it,
        or :func:`~.network.pin` refuses its host or port (443 only, outside an allowed
        network).
    """
    name, port = https_host(url)
    return name, pin(name, port, HTTPS_PORTS)


class PinnedAdapter(HTTPAdapter):
    """Send each request to the address :func:`check_url` checked, TLS verified for the name.

    urllib3 keys its pools by the address and the name together, so a pool is reused only
    for the same name at the same checked address.
    """

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check the request's URL; point the pool at the checked address.

        :raises ConfigError: :data:`~.network.REFUSED`, before any packet is sent.
        """
        name, address = check_url(request.url or "")
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        host_params["host"] = address
        pool_kwargs["server_hostname"] = pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: bool | str = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        """Send with :func:`ca_bundle`'s trust where the session left the default (requests
        itself reads ``REQUESTS_CA_BUNDLE`` but not ``SSL_CERT_FILE``), so clients that
        build their own sessions (exchangelib) trust what crmsync's own sessions trust."""
        return super().send(request, stream=stream, timeout=timeout,
                            verify=ca_bundle() if verify is True else verify, cert=cert,
                            proxies=proxies)

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        """Name the host in ``Host``: the connection itself only knows the address.

        Set on every hop (not only when absent): requests copies a request's headers into
        the request that follows a redirect.
        """
        request.headers["Host"] = urlsplit(request.url or "").netloc.rpartition("@")[2]


def pinned_session(verify: str | bool = True) -> requests.Session:
    """A requests session whose every request goes through :class:`PinnedAdapter`.

    :param verify: the TLS trust (a CA bundle path, or True for certifi's).
    """
    session = requests.Session()
    session.verify = verify
    adapter = PinnedAdapter()
    for prefix in ("https://", "http://"):  # http:// too, to refuse it rather than send it
        session.mount(prefix, adapter)
    return session
