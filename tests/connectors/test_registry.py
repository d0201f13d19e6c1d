"""registry.load_connector_class: names, dotted paths, and name checks."""

from __future__ import annotations

import pytest

from crmsync.connectors import registry
from crmsync.connectors.files import FileConnector
from crmsync.connectors.imap import ImapConnector
from crmsync.errors import ConfigError


@pytest.mark.parametrize(("name", "cls"), [("imap", ImapConnector), ("files", FileConnector)])
def test_builtin_names(name, cls):
    # Registered names resolve lazily to their classes, whose name matches.
    assert registry.load_connector_class(name) is cls


def test_dotted_path():
    # A custom connector is named by module:Class (or module.Class).
    assert registry.load_connector_class("crmsync.connectors.files:FileConnector") is FileConnector
    assert registry.load_connector_class("crmsync.connectors.files.FileConnector") is FileConnector


@pytest.mark.parametrize(
    "name", ["pop3", "crmsync.connectors.nothere:X", "crmsync.errors:UserError"]
)
def test_bad_names_are_config_errors(name):
    # Unknown names, missing modules and non-connectors are configuration errors.
    with pytest.raises(ConfigError):
        registry.load_connector_class(name)


def test_registered_name_must_match(monkeypatch):
    # A class registered under a name it does not carry is refused (vdirsyncer's check).
    monkeypatch.setitem(registry.CONNECTORS, "mail", "crmsync.connectors.imap:ImapConnector")
    with pytest.raises(ConfigError, match="calls itself 'imap'"):
        registry.load_connector_class("mail")


def test_imap_from_settings(tmp_path):
    # Stored JSON options become ImapSettings; port follows security; CA file trusted.
    connector = ImapConnector.from_settings(
        {
            "host": "mail.example.com",
            "username": "u",
            "security": "starttls",
            "since": "2024-02-01",
            "folders": ["INBOX"],
            "batch_size": 50,
            "timeout": 2.5,
        },
        "secret",
    )
    settings = connector.settings
    assert (settings.port, settings.batch_size, settings.timeout) == (143, 50, 2.5)
    assert settings.since.isoformat() == "2024-02-01" and settings.folders == ("INBOX",)


@pytest.mark.parametrize(
    "options",
    [
        {"host": "h"},
        {"host": "h", "username": "u", "security": "tls"},
        {"host": "h", "username": "u", "since": "yesterday"},
        {"host": "h", "username": "u", "ca_file": "/nonexistent.pem"},
    ],
)
def test_imap_bad_settings_are_config_errors(options):
    # Missing or invalid options are reported, not crashed on.
    with pytest.raises(ConfigError):
        ImapConnector.from_settings(options, "secret")


def test_files_from_settings(tmp_path):
    # The file connector takes a list of paths.
    connector = FileConnector.from_settings({"paths": [str(tmp_path / "a.eml")]}, "")
    assert connector.paths == [tmp_path / "a.eml"]
    with pytest.raises(ConfigError):
        FileConnector.from_settings({}, "")
