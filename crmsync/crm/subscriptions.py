"""Microsoft Graph change-notification subscriptions, one row per subscribed resource.

Invariant: ``client_state_hash`` is the SHA-256 of the secret ``clientState`` sent
when the subscription was created; a notification whose ``clientState`` does not
hash to it is ignored (the secret itself is never stored).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crmsync.crm.models import Base, UtcDateTime


class GraphSubscription(Base):
    __tablename__ = "graph_subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True
    )
    #: Graph's subscription id
    subscription_id: Mapped[str] = mapped_column(String(200), unique=True)
    #: the Graph resource path (``/users/x/mailFolders('inbox')/messages``)
    resource: Mapped[str] = mapped_column(String(1000))
    client_state_hash: Mapped[str] = mapped_column(String(64))
    notification_url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: last lifecycle event or renewal error, for the admin console
    last_event: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
