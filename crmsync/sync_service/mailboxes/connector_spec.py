"""How to build a mailbox's connector, in this process or in a fetch process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmsync.connectors.base import Connector
from crmsync.connectors.registry import load_connector_class


@dataclass(frozen=True)
class ConnectorSpec:
    """A mailbox's provider, its settings (with the engine's defaults) and its secret.

    :param settings: JSON-able, as :meth:`~crmsync.connectors.base.Connector.from_settings`
        takes them, so the spec can be handed to another process.
    :param secret: the decrypted credential; never shown in a repr.
    """

    provider: str
    settings: dict[str, Any]
    secret: str = field(repr=False)

    def build(self) -> Connector:
        return load_connector_class(self.provider).from_settings(self.settings, self.secret)
