"""`crmsync manifest`: both manifests for a deployment, checked against Microsoft's rules."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

from tests.conftest import Cli

SCHEMAS = Path(__file__).resolve().parents[2] / "crmsync" / "manifest" / "schemas"
XSD = SCHEMAS / "xsd" / "OfficeAppManifestV1_1.xsd"
NS = {
    "o": "http://schemas.microsoft.com/office/appforoffice/1.1",
    "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
    "v": "http://schemas.microsoft.com/office/mailappversionoverrides",
    "v11": "http://schemas.microsoft.com/office/mailappversionoverrides/1.1",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
#: OfficeApp's children in the order OfficeAppManifestV1_1 requires (those we use)
ORDER = ["Id", "Version", "ProviderName", "DefaultLocale", "DisplayName", "Description",
         "IconUrl", "HighResolutionIconUrl", "SupportUrl", "AppDomains", "Hosts", "Requirements",
         "FormSettings", "Permissions", "Rule", "DisableEntityHighlighting", "VersionOverrides"]
CLIENT_ID = "6f1a2b3c-0000-4000-8000-000000000001"


@pytest.fixture
def written(sqlite_url: str, tmp_path: Path) -> Path:
    out = tmp_path / "manifests"
    Cli(sqlite_url)("manifest", "--base-url", "https://crm.example.com/", "--out", str(out),
                    "--client-id", CLIENT_ID)
    return out


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / "teams-v1.17" / name).read_text(encoding="utf-8"))


def test_unified_manifest_validates_against_microsofts_schema(written: Path) -> None:
    # The JSON manifest and its Chinese localization pass Microsoft's published v1.17 schemas.
    manifest = json.loads((written / "manifest.json").read_text(encoding="utf-8"))
    checker = jsonschema.FormatChecker()
    jsonschema.Draft4Validator(_schema("MicrosoftTeams.schema.json"),
                               format_checker=checker).validate(manifest)
    localization = json.loads((written / "zh-cn.json").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(_schema("MicrosoftTeams.Localization.schema.json"),
                               format_checker=checker).validate(localization)
    assert localization["name.short"] == "crmsync 客户关系"
    pages = {r["code"]["page"] for r in manifest["extensions"][0]["runtimes"]}
    assert "https://crm.example.com/addin/taskpane.html?mode=read" in pages
    contexts = {c for r in manifest["extensions"][0]["ribbons"] for c in r["contexts"]}
    assert {"mailRead", "mailCompose", "meetingDetailsAttendee"} <= contexts
    assert manifest["webApplicationInfo"]["resource"] == f"api://crm.example.com/{CLIENT_ID}"
    assert (written / "color.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_xml_manifest_is_a_mail_app_with_all_surfaces(written: Path) -> None:
    # The XML manifest has the MailApp shape Outlook needs: surfaces, icons, en-US and zh-CN.
    root = etree.parse(str(written / "manifest.xml")).getroot()
    if XSD.exists():  # Microsoft's XSDs, when a source for them is added (see SOURCE.md)
        etree.XMLSchema(etree.parse(str(XSD))).assertValid(root)
    assert root.tag == f"{{{NS['o']}}}OfficeApp" and root.get(XSI_TYPE) == "MailApp"
    names = [etree.QName(child).localname for child in root]
    assert names == ORDER
    assert root.findtext("o:DefaultLocale", namespaces=NS) == "en-US"
    override = root.find("o:DisplayName/o:Override", NS)
    assert override.get("Locale") == "zh-CN" and override.get("Value") == "crmsync 客户关系"
    surfaces = {p.get(XSI_TYPE) for p in root.iterfind(".//v:ExtensionPoint", NS)}
    assert surfaces == {"MessageReadCommandSurface", "MessageComposeCommandSurface",
                        "AppointmentAttendeeCommandSurface", "AppointmentOrganizerCommandSurface"}
    resources = root.find("v:VersionOverrides/v:Resources", NS)
    ids = {e.get("id") for e in resources.iter() if e.get("id")}
    hosts = root.find("v:VersionOverrides/v:Hosts", NS)
    used = {e.get("resid") for e in hosts.iter() if e.get("resid")}
    assert used <= ids, used - ids
    for string in resources.iterfind(".//bt:String", NS):
        assert string.find("bt:Override", NS).get("Locale") == "zh-CN"
    urls = [e.get("DefaultValue") for e in root.iter()
            if (e.get("DefaultValue") or "").startswith("http")]
    assert urls and all(u.startswith("https://crm.example.com/") for u in urls)
    sso = root.find("v:VersionOverrides/v11:VersionOverrides/v11:WebApplicationInfo", NS)
    assert sso.findtext("v11:Id", namespaces=NS) == CLIENT_ID


def test_manifest_refuses_a_plain_http_base_url(sqlite_url: str, tmp_path: Path) -> None:
    # Outlook loads add-ins only over HTTPS: a plain http URL is a clear error, nothing written.
    result = Cli(sqlite_url)("manifest", "--base-url", "http://crm.example.com",
                             "--out", str(tmp_path / "m"), ok=False)
    assert result.exit_code == 1 and "https" in result.output
    assert not (tmp_path / "m").exists()
