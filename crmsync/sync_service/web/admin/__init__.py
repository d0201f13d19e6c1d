"""The admin console (``/admin/``): admins connect, watch and fix mailboxes in a browser.

Server-rendered pages, one module per area: :mod:`.signing_in` (the gate every page goes
through: passwords, sessions, CSRF, roles) and :mod:`.entra` (Microsoft sign-in),
:mod:`.mailboxes` and :mod:`.microsoft365` (admin consent, re-authentication),
:mod:`.quarantine`, :mod:`.settings` (with :mod:`.settings_rules` and
:mod:`.settings_support`), :mod:`.people` (users, API keys, the audit log) and
:mod:`.activities`; :mod:`.blueprint` holds what they share, :mod:`.i18n` the languages.
Every page is rendered with Jinja autoescaping under a CSP without inline script, so text
from mail or from a mailbox's name never becomes markup.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for

from crmsync.sync_service.web.admin import (
    activities,
    entra,
    mailboxes,
    microsoft365,
    people,
    quarantine,
    settings,
    settings_rules,
    settings_support,
    signing_in,
)
from crmsync.sync_service.web.admin.blueprint import blueprint

#: the modules whose pages are on the blueprint (imported for their routes)
PAGES = (activities, mailboxes, people, entra, microsoft365, quarantine, settings,
         settings_rules, settings_support)


def register(app: Flask) -> None:
    """Mount the console and send ``/`` to it."""
    app.register_blueprint(blueprint)
    signing_in.install(app)
    mailboxes.install_limits(app)
    entra.install(app)
    app.add_url_rule("/", "index", lambda: redirect(url_for("admin.mailboxes")))
