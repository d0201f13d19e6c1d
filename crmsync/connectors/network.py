"""Where a connector may connect: public mail servers only, at the address it checked.

A mailbox's host and port come from whoever configures it, so a connector must not become
a way to reach the service's own network (SSRF): loopback, private and link-local ranges,
the cloud metadata address, shared address space, and every way of writing them that a
resolver accepts (``2130706433``, ``0177.0.0.1``, ``::ffff:127.0.0.1``, NAT64
``64:ff9b::7f00:1``, 6to4 ``2002:7f00:1::``). The name is resolved once and the
connection goes to the address that was checked (a DNS answer that changes between the
check and the connect cannot redirect it), while TLS still verifies the certificate for
the name. Every refusal reads the same, so the answers cannot map the network behind.

``CRMSYNC_ALLOWED_PRIVATE_NETWORKS`` (``;``- or ``,``-separated CIDRs) lets a deployment,
or the test suite, reach its own mail server on a private or loopback address (any port).
Graph's sign-in and API hosts (HTTPS) are held to the same rule by :mod:`.https`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
from typing import Any

from crmsync.errors import ConfigError

IMAP_PORTS = frozenset({143, 993})
SMTP_PORTS = frozenset({25, 465, 587})
HTTPS_PORTS = frozenset({443})
REFUSED = "the server address is not allowed (not a public mail server)"
_HOSTNAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*\.?")
_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = os.environ.get("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", "")
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.replace(",", ";").split(";") if part.strip()]


def _embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _literal(host: str) -> IPAddress | None:
    """The address a host names literally, refusing integer, octal and hex spellings."""
    bare = host.strip("[]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        if _HOSTNAME.fullmatch(host) is None or re.fullmatch(r"[0-9.xX]+", host):
            raise ConfigError(REFUSED) from None
        return None
    if isinstance(address, ipaddress.IPv4Address) and not _DOTTED_QUAD.fullmatch(bare):
        raise ConfigError(REFUSED)
    return address


def _public(address: IPAddress, port: int, ports: frozenset[int]) -> bool:
    if any(address in network for network in allowed_networks()):
        return True
    embedded = _embedded_v4(address)
    if embedded is not None and not _public(embedded, port, ports):
        return False
    return address.is_global and not address.is_multicast and port in ports


def pin(host: str, port: int, ports: frozenset[int]) -> str:
    """Resolve ``host`` once and return the address to connect to.

    :raises ConfigError: (always :data:`REFUSED`) the name is malformed, or one of its
        addresses is not a public one, or the port is not a mail port.
    """
    literal = _literal(host)
    if literal is not None:
        candidates = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise ConfigError(REFUSED) from exc
        candidates = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not candidates or not all(_public(a, port, ports) for a in candidates):
        raise ConfigError(REFUSED)
    return str(candidates[0])


class NamedTLS:
    """An SSL context that verifies the certificate for ``name`` whatever address the
    socket was connected to (the pinned one)."""

    def __init__(self, context: ssl.SSLContext, name: str) -> None:
        self._context, self._name = context, name.strip("[]")

    def wrap_socket(self, sock: socket.socket, *args: Any, server_hostname: str | None = None,
                    **kwargs: Any) -> ssl.SSLSocket:
        return self._context.wrap_socket(sock, *args, server_hostname=self._name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
