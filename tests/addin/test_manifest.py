"""`crmsync manifest`: both manifests for a deployment, checked against Microsoft's rules."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

from crmsync.manifest.xml import MANIFEST_XSD, xml_problems
from tests.conftest import Cli

SCHEMAS = Path(__file__).resolve().parents[2] / "crmsync" / "manifest" / "schemas"
#: Microsoft's published manifests (tests/addin/data/microsoft-samples/SOURCE.md)
SAMPLES = sorted((Path(__file__).parent / "data" / "microsoft-samples").glob("*.xml"))
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


def _write(sqlite_url: str, out: Path, *extra: str,
           base_url: str = "https://crm.example.com/") -> bytes:
    Cli(sqlite_url)("manifest", "--base-url", base_url, "--out", str(out), *extra)
    return (out / "manifest.xml").read_bytes()


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


#: (base URL, Entra client id): SSO or not; served under a long path (AppDomain is the origin)
DEPLOYMENTS = [("https://crm.example.com/", CLIENT_ID), ("https://crm.example.com/", None),
               ("https://crm.example.com/" + "tenant/" * 45, None)]


@pytest.mark.parametrize(("base_url", "client_id"), DEPLOYMENTS,
                         ids=["with-sso", "without-sso", "long-path"])
def test_xml_manifest_validates_against_microsofts_schemas(
        sqlite_url: str, tmp_path: Path, base_url: str, client_id: str | None) -> None:
    # What `crmsync manifest` writes passes Microsoft's XSDs, with and without SSO.
    extra = ["--client-id", client_id] if client_id else []
    document = _write(sqlite_url, tmp_path / "m", *extra, base_url=base_url)
    assert MANIFEST_XSD.is_file() and MANIFEST_XSD.is_relative_to(SCHEMAS)
    assert xml_problems(document) == []
    root = etree.fromstring(document)
    assert root.findtext("o:AppDomains/o:AppDomain", namespaces=NS) == "https://crm.example.com"
    outer = root.find("v:VersionOverrides", NS)
    inner = outer.find("v11:VersionOverrides", NS)
    assert inner.get(XSI_TYPE) == "VersionOverridesV1_1" and outer[-1] is inner
    # The pane is pinnable where the schema allows it (1.1), and only there.
    assert outer.find(".//v:SupportsPinning", NS) is None
    pins = inner.findall(".//v11:Action/v11:SupportsPinning", NS)
    assert len(pins) == 4 and {p.text for p in pins} == {"true"}
    assert (inner.find("v11:WebApplicationInfo", NS) is not None) == bool(client_id)


def test_validator_rejects_pinning_in_the_1_0_overrides(sqlite_url: str, tmp_path: Path) -> None:
    # The shape Outlook refused (SupportsPinning in VersionOverrides 1.0) fails the check.
    document = _write(sqlite_url, tmp_path / "m").decode("utf-8")
    source = '<SourceLocation resid="Taskpane.Read"/>'
    at = document.index(source) + len(source)  # the first one: the 1.0 overrides' button
    assert at < document.index('xsi:type="VersionOverridesV1_1"')
    broken = document[:at] + "<SupportsPinning>true</SupportsPinning>" + document[at:]
    problems = xml_problems(broken.encode("utf-8"))
    assert len(problems) == 1
    assert "mailappversionoverrides}SupportsPinning" in problems[0]
    assert "not expected" in problems[0]


def test_microsofts_sample_corpus_is_present() -> None:
    # The corpus below cannot quietly shrink to nothing (an empty parametrize would skip).
    names = {path.name for path in SAMPLES}
    assert len(names) >= 4 and "outlook-actionable-message_manifest.xml" in names


@pytest.mark.parametrize("sample", SAMPLES, ids=[path.stem for path in SAMPLES])
def test_validator_accepts_microsofts_own_manifests(sample: Path) -> None:
    # A validator that rejects Microsoft's published manifests would be wrong, not strict.
    assert xml_problems(sample.read_bytes()) == []


def test_manifest_refuses_to_write_what_the_schemas_reject(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    # A base URL too long for the schema's 2,048-character URLs: a clear error, nothing written.
    long_url = "https://crm.example.com/" + "a" * 2100
    result = Cli(sqlite_url)("manifest", "--base-url", long_url, "--out",
                             str(tmp_path / "m"), ok=False)
    assert result.exit_code == 1
    assert "does not validate against Microsoft's schemas" in result.output
    assert "maxLength" in result.output and "2048" in result.output
    assert result.output.rstrip().endswith("more")  # the first ten, then a count
    assert not (tmp_path / "m").exists()


def test_manifest_refuses_a_plain_http_base_url(sqlite_url: str, tmp_path: Path) -> None:
    # Outlook loads add-ins only over HTTPS: a plain http URL is a clear error, nothing written.
    result = Cli(sqlite_url)("manifest", "--base-url", "http://crm.example.com",
                             "--out", str(tmp_path / "m"), ok=False)
    assert result.exit_code == 1 and "https" in result.output
    assert not (tmp_path / "m").exists()
