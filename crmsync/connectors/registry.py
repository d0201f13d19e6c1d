"""Connector classes by provider name, imported only when asked for.

Like vdirsyncer's storage names: the configuration says ``imap``; a custom connector
can be named by its dotted path (``package.module:ClassName``), like Radicale plugins.
"""

from __future__ import annotations

import importlib

from crmsync.connectors.base import Connector
from crmsync.errors import ConfigError

CONNECTORS: dict[str, str] = {
    "imap": "crmsync.connectors.imap:ImapConnector",
    "files": "crmsync.connectors.files:FileConnector",
    "graph": "crmsync.connectors.graph:GraphConnector",
    "ews": "crmsync.connectors.ews:EwsConnector",
    "caldav": "crmsync.connectors.dav:DavConnector",
    # in-memory mailboxes for tests and demos (crmsync.connectors.fake)
    "fake": "crmsync.connectors.fake:FakeConnector",
}


def load_connector_class(name: str) -> type[Connector]:
    """Return the connector class for a provider name or a ``module:Class`` path.

    :raises ConfigError: unknown name, unimportable path, not a :class:`Connector`, or
        a built-in class whose ``name`` differs from the name it is registered under.
    """
    target = CONNECTORS.get(name, name)
    module_name, _, class_name = target.replace(":", ".").rpartition(".")
    if not module_name or (name not in CONNECTORS and "." not in name and ":" not in name):
        known = ", ".join(sorted(CONNECTORS))
        raise ConfigError(f"unknown connector {name!r}", [f"known connectors: {known}"])
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load connector {name!r}: {exc}", [str(exc)]) from exc
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"{target} is not a Connector class")
    if name in CONNECTORS and cls.name != name:
        raise ConfigError(f"{target} calls itself {cls.name!r}, registered as {name!r}")
    return cls
