"""One configuration schema: every key with its default, type and help.

Values come from (later wins): the defaults here, ``crmsync.toml`` in the working
directory (keys in lower case), and ``CRMSYNC_<KEY>`` environment variables. Loaded
only by the CLI and ``create_app``, never at import time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmsync.errors import ConfigError


@dataclass(frozen=True)
class Option:
    key: str
    default: Any
    type: type
    help: str


SCHEMA: tuple[Option, ...] = (
    Option("DATABASE_URL", "sqlite:///crmsync.db", str, "SQLAlchemy database URL"),
    Option("SECRET_KEY", "", str, "key that encrypts stored credentials (else a key file)"),
    Option("OLD_SECRET_KEYS", "", str,
           "earlier SECRET_KEYs, ';'-separated: still decrypt until 'secrets rotate' ran"),
    Option("KEY_FILE", "", str,
           "the key file when SECRET_KEY is unset (default: ~/.config/crmsync/keys/)"),
    Option("INTERNAL_DOMAINS", "", str, "the organization's own mail domains, ';'-separated"),
    Option("DEMO", False, bool, "turn on the preview page and its automatic sign-in"),
    Option("RATE_LIMIT_PER_USER", "600/minute", str, "API requests one caller may make"),
    Option("RATE_LIMIT_PER_IP", "1200/minute", str, "requests one IP address may make"),
    Option("RATE_LIMIT_STORAGE_URL", "memory://", str,
           "where limits are counted: redis://host:port/0 to share them across processes"),
    Option("BACKFILL_DAYS", 90, int, "how far back a new mailbox's first sync reaches"),
    Option("SYNC_BATCH_SIZE", 500, int, "messages fetched and committed per batch"),
    Option("FETCH_PROCESS_MIN_MESSAGES", 2000, int,
           "a first sync of a folder this large fetches in a second process; 0: never"),
    Option("SYNC_RUN_SECONDS", 60.0, float,
           "a worker's or serve's run of one mailbox stops at a page boundary after this "
           "long and the mailbox queues again behind the others; 0: run to the end"),
    Option("POLL_SECONDS", 300, int, "how often the embedded scheduler polls each mailbox"),
    Option("LEASE_SECONDS", 600, int,
           "a sync's claim on its mailbox lapses after this long without a stored page"),
    Option("BROKER_URL", "", str,
           "the distributed engine's broker (redis://host:6379/0): 'crmsync worker' "
           "processes sync, serve only schedules; empty: everything in one process"),
    Option("BROKER_VISIBILITY_SECONDS", 0, int,
           "a task whose worker died goes to another worker after this long; "
           "0: LEASE_SECONDS + 180"),
    Option("IMAP_PUSH", True, bool, "sync mailboxes as mail arrives (IMAP IDLE, Exchange "
           "streaming): in serve, or with a broker in the workers"),
    Option("PUSH_IDLE_SECONDS", 120, int, "serve: renew each IMAP IDLE after this long"),
    Option("PUSH_IDLE_CONNECTIONS", 3, int,
           "serve: IMAP IDLE connections per mailbox (one per folder) when the server has "
           "no NOTIFY; further folders are polled"),
    Option("PUSH_WATCHES_PER_WORKER", 50, int,
           "with a broker: mailboxes one 'crmsync worker' watches for push (IMAP IDLE, "
           "Exchange streaming); the workers share the mailboxes out"),
    Option("PUSH_WATCH_SECONDS", 90, int,
           "with a broker: a worker's watch on a mailbox lapses after this long "
           "unrenewed (a dead worker), and another worker takes the mailbox"),
    Option("SMS_GATEWAY_URL", "", str,
           "alerts by text message: the HTTP SMS gateway's URL (a JSON POST per message); "
           "empty: no text messages"),
    Option("SMS_GATEWAY_TOKEN_ENV", "", str,
           "the environment variable that holds the SMS gateway's bearer token"),
    Option("MAX_MESSAGE_BYTES", 50_000_000, int, "larger messages are quarantined, not fetched"),
    Option("OUTLOOK_JWKS_URL", "", str, "JWKS URL of the Outlook SSO/NAA token issuer; empty: off"),
    Option("OUTLOOK_ISSUERS", "https://login.microsoftonline.com/{tenantid}/v2.0", str,
           "accepted token issuers, ';'-separated; {tenantid} is the token's tenant"),
    Option("OUTLOOK_AUDIENCES", "", str, "the API's app id URI and/or client id, ';'-separated"),
    Option("OUTLOOK_TENANTS", "", str, "Microsoft 365 tenant ids allowed in, ';'-separated"),
    Option("OUTLOOK_SCOPE", "access_as_user", str, "scope an Outlook token must carry"),
    Option("OUTLOOK_CLOCK_SKEW", 60, int, "seconds of clock skew tolerated on token times"),
    Option("ADDIN_CLIENT_ID", "", str,
           "the add-in's Entra app (client) id, for nested app authentication; empty: off"),
    Option("ADDIN_AUTHORITY", "https://login.microsoftonline.com/common", str,
           "the authority the pane signs in with (NAA)"),
    Option("ADDIN_SCOPES", "", str, "scopes the pane asks for (NAA), ';'-separated; empty: "
           "the first OUTLOOK_AUDIENCES entry + '/' + OUTLOOK_SCOPE"),
    Option("CONSOLE_ENTRA_CLIENT_ID", "", str,
           "the admin console's Entra app (client) id: 'Sign in with Microsoft'; empty: off"),
    Option("CONSOLE_ENTRA_CLIENT_SECRET", "", str, "that app's client secret"),
    Option("CONSOLE_ENTRA_TENANT", "", str,
           "the organization's tenant id: only its users sign in to the console"),
    Option("CONSOLE_ENTRA_AUTHORITY_HOST", "https://login.microsoftonline.com", str,
           "Microsoft's sign-in host for the console and admin consent (national clouds)"),
)


def _coerce(option: Option, raw: Any) -> Any:
    if option.type is bool and isinstance(raw, str):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    try:
        return option.type(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{option.key}: expected {option.type.__name__}, got {raw!r}") from exc


def load_config(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    toml_path: Path | None = None,
) -> dict[str, Any]:
    """Return the effective configuration as a dict keyed like :data:`SCHEMA`."""
    environ = os.environ if environ is None else environ
    toml_path = toml_path or Path("crmsync.toml")
    from_file: dict[str, Any] = {}
    if toml_path.is_file():
        with toml_path.open("rb") as handle:
            from_file = {k.upper(): v for k, v in tomllib.load(handle).items()}
    config: dict[str, Any] = {}
    for option in SCHEMA:
        value: Any = option.default
        if option.key in from_file:
            value = from_file[option.key]
        if f"CRMSYNC_{option.key}" in environ:
            value = environ[f"CRMSYNC_{option.key}"]
        config[option.key] = _coerce(option, value)
    for key, value in (overrides or {}).items():
        config[key] = value
    return config


def split_domains(value: str) -> frozenset[str]:
    """Parse a ``;``- or ``,``-separated domain list into lower-case names."""
    parts = value.replace(",", ";").split(";")
    return frozenset(part.strip().lower().lstrip("@") for part in parts if part.strip())


def split_list(value: str) -> list[str]:
    """Parse a ``;``-separated list (secrets may hold commas), in order, blanks dropped."""
    return [part.strip() for part in value.split(";") if part.strip()]
