"""The services one process shares: configuration, database, secrets, page hooks.

Built at start-up (:func:`crmsync.sync_service.startup.build_services`), which also
assembles the page hooks: the engine runs what it is given and imports none of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.crm.db import make_engine, make_sessionmaker
from crmsync.crm.models import Mailbox, Setting
from crmsync.crm.rules import normalize_domain
from crmsync.errors import UserError
from crmsync.sync_service.config import split_domains, split_list
from crmsync.sync_service.engine.page import PageHook
from crmsync.sync_service.mailboxes.credentials import SecretBox, load_keys

INTERNAL_DOMAINS_SETTING = "internal_domains"


def set_internal_domains(session: Session, domains: Iterable[str]) -> str:
    """Store the organization's own mail domains (``org set-domains``, the console; each
    argument may list several, ``;``-, ``,``- or space-separated); return the stored
    value. Mail among them only is internal, and never captured.

    :raises UserError: one is not a mail domain, or none is given.
    """
    parts = (part for d in domains for part in re.split(r"[;,\s]+", d) if part)
    value = ";".join(dict.fromkeys(normalize_domain(part) for part in parts))
    if not value:
        raise UserError("give at least one mail domain, e.g. northwind.example")
    setting = session.get(Setting, INTERNAL_DOMAINS_SETTING) or Setting(
        key=INTERNAL_DOMAINS_SETTING)
    setting.value = value
    session.add(setting)
    return value


@dataclass
class Services:
    """Built once per process by the CLI or ``create_app``.

    :param hook_factory: returns the page hooks, in order (called once, when a sync
        first needs them: their imports cost a start-up that never syncs).
    """

    config: dict[str, Any]
    hook_factory: Callable[[], list[PageHook]] = field(repr=False)
    _box: SecretBox | None = field(default=None, repr=False)

    @cached_property
    def page_hooks(self) -> list[PageHook]:
        """Hooks run after each stored page (:class:`~.engine.page.PageHook`)."""
        return self.hook_factory()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.config["DATABASE_URL"])

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    def secret_box(self) -> SecretBox:
        """Return the credential cipher, creating the key file on first use (and only
        while no credential is stored: :func:`~.mailboxes.credentials.load_keys`)."""
        if self._box is None:
            with self.sessions() as session:
                sealed = session.scalar(
                    select(Mailbox.id).where(Mailbox.secret.is_not(None)).limit(1))
            keys = load_keys(self.config["SECRET_KEY"], split_list(self.config["OLD_SECRET_KEYS"]),
                             self.config["DATABASE_URL"], self.config["KEY_FILE"],
                             may_create=sealed is None)
            self._box = SecretBox(keys)
        return self._box

    def dispose(self) -> None:
        """Close pooled database connections (at process or test end)."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    def forget_connections(self) -> None:
        """In a forked child: drop the pooled connections inherited from the parent
        without closing them (they are the parent's); the child opens its own."""
        if "engine" in self.__dict__:
            self.engine.dispose(close=False)

    def internal_domains(self, session: Session) -> frozenset[str]:
        """The organization's domains: configuration plus what an admin stored."""
        stored = session.get(Setting, INTERNAL_DOMAINS_SETTING)
        return split_domains(self.config["INTERNAL_DOMAINS"]) | split_domains(
            stored.value if stored else ""
        )
