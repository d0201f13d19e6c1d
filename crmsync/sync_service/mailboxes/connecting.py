"""Connecting to a mailbox: open its credential, build its connector, seal a renewed one.

The engine connects for a sync, the support outbox for sending, the triggers for
push; each goes through here, so a credential is opened and re-sealed in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from crmsync.connectors.base import Connector, supports
from crmsync.connectors.registry import load_connector_class
from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes.connector_spec import ConnectorSpec
from crmsync.sync_service.mailboxes.lifecycle import seal_credential


def connector_spec(services: Services, mailbox: Mailbox) -> ConnectorSpec:
    """Return the mailbox's connector settings (with the engine's defaults) and secret.

    :raises ConfigError: the provider is unknown (before the secret is opened).
    """
    load_connector_class(mailbox.provider)
    secret = services.secret_box().open(mailbox.secret, mailbox.name) if mailbox.secret else ""
    return spec_with_defaults(services, mailbox.provider, mailbox.settings, secret)


def spec_with_defaults(services: Services, provider: str, settings: Mapping[str, Any],
                       secret: str) -> ConnectorSpec:
    """Stored (or typed, for the console's Test connection) settings with the engine's
    defaults: batch size, message size limit, and the backfill's first day."""
    settings = dict(settings)
    settings.setdefault("batch_size", services.config["SYNC_BATCH_SIZE"])
    settings.setdefault("max_message_bytes", services.config["MAX_MESSAGE_BYTES"])
    if not settings.get("since"):
        days = services.config["BACKFILL_DAYS"]
        settings["since"] = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    return ConnectorSpec(provider, settings, secret)


def provider_supports(provider: str, capability: type) -> bool:
    """Return whether ``provider``'s connector declares ``capability`` (nothing is opened).

    :param capability: :class:`~crmsync.connectors.base.Sending`,
        :class:`~crmsync.connectors.base.Idling` or
        :class:`~crmsync.connectors.base.Subscribing`.
    :raises ConfigError: the provider is unknown.
    """
    return supports(load_connector_class(provider), capability)


def build_connector(services: Services, mailbox: Mailbox) -> Connector:
    """Create the mailbox's connector with its decrypted credential."""
    return connector_spec(services, mailbox).build()


def reseal_secret(services: Services, mailbox_id: int, name: str, connector: Connector) -> None:
    """Seal a credential the connector renewed during the run to the mailbox row again."""
    updated = connector.updated_secret()
    if updated:
        with session_scope(services.sessions) as session:
            session.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(
                secret=seal_credential(services.secret_box(), name, updated)))
