"""The XML add-in-only manifest (``OfficeApp`` of type ``MailApp``, VersionOverrides 1.0/1.1).

Element order follows Microsoft's schemas (``OfficeAppManifestV1_1``,
``MailAppVersionOverridesV1_0``/``V1_1``), which are sequences: order matters. The
schemas ship beside this module (``schemas/office-addin-xml/``, their source in its
SOURCE.md) and :func:`check_xml` validates against them, so ``crmsync manifest`` never
writes a manifest that Outlook would refuse to install.

VersionOverrides: https://learn.microsoft.com/javascript/api/manifest/versionoverrides
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from crmsync.errors import CrmSyncError
from crmsync.manifest import PROVIDER, STRINGS, VERSION, Deployment

#: Microsoft's XSDs; the root one imports the others relative to itself
XSD_DIR = Path(__file__).resolve().parent / "schemas" / "office-addin-xml"
MANIFEST_XSD = XSD_DIR / "OfficeAppManifestV1_1.xsd"
#: schema problems listed in an error; one cause (a long URL) repeats in every element
MAX_SHOWN = 10

VO_1_0 = "http://schemas.microsoft.com/office/mailappversionoverrides"
VO_1_1 = "http://schemas.microsoft.com/office/mailappversionoverrides/1.1"
#: (extension point, resource id prefix, pane mode)
SURFACES = (
    ("MessageReadCommandSurface", "Read", "read"),
    ("MessageComposeCommandSurface", "Compose", "compose"),
    ("AppointmentAttendeeCommandSurface", "Attendee", "appointment"),
    ("AppointmentOrganizerCommandSurface", "Organizer", "appointment"),
)


def _localized(tag: str, key: str, attr: str = "DefaultValue") -> str:
    default = quoteattr(STRINGS["en-US"][key])
    override = quoteattr(STRINGS["zh-CN"][key])
    return (f'<{tag} {attr}={default}>'
            f'<Override Locale="zh-CN" Value={override}/></{tag}>')


def _string(resid: str, key: str) -> str:
    default = quoteattr(STRINGS["en-US"][key])
    override = quoteattr(STRINGS["zh-CN"][key])
    return (f'<bt:String id="{resid}" DefaultValue={default}>'
            f'<bt:Override Locale="zh-CN" Value={override}/></bt:String>')


def _extension_point(surface: str, prefix: str, pinning: bool) -> str:
    # SupportsPinning exists only in the 1.1 schema (Mailbox 1.5): the 1.0 copy leaves it out.
    pin = "\n                    <SupportsPinning>true</SupportsPinning>" if pinning else ""
    return f"""
          <ExtensionPoint xsi:type="{surface}">
            <OfficeTab id="TabDefault">
              <Group id="crmsync.{prefix}.Group">
                <Label resid="Group.Label"/>
                <Control xsi:type="Button" id="crmsync.{prefix}.Open">
                  <Label resid="Button.Label"/>
                  <Supertip>
                    <Title resid="Button.Label"/>
                    <Description resid="Button.Tooltip"/>
                  </Supertip>
                  <Icon>
                    <bt:Image size="16" resid="Icon.16"/>
                    <bt:Image size="32" resid="Icon.32"/>
                    <bt:Image size="80" resid="Icon.80"/>
                  </Icon>
                  <Action xsi:type="ShowTaskpane">
                    <SourceLocation resid="Taskpane.{prefix}"/>{pin}
                  </Action>
                </Control>
              </Group>
            </OfficeTab>
          </ExtensionPoint>"""


def _resources(d: Deployment) -> str:
    urls = "".join(
        f'<bt:Url id="Taskpane.{prefix}" DefaultValue={quoteattr(d.pane(mode))}/>'
        for _, prefix, mode in SURFACES
    )
    images = "".join(
        f'<bt:Image id="Icon.{s}" DefaultValue={quoteattr(d.icon(s))}/>' for s in (16, 32, 80)
    )
    return f"""
      <Resources>
        <bt:Images>{images}</bt:Images>
        <bt:Urls>{urls}</bt:Urls>
        <bt:ShortStrings>{_string("Group.Label", "group")}{_string("Button.Label", "button")}
        </bt:ShortStrings>
        <bt:LongStrings>{_string("Button.Tooltip", "tip")}</bt:LongStrings>
      </Resources>"""


def _host(pinning: bool) -> str:
    points = "".join(_extension_point(surface, prefix, pinning)
                     for surface, prefix, _ in SURFACES)
    return f"""
      <Hosts>
        <Host xsi:type="MailHost">
          <DesktopFormFactor>{points}
          </DesktopFormFactor>
        </Host>
      </Hosts>"""


def _version_overrides(d: Deployment) -> str:
    """VersionOverrides 1.0 with 1.1 nested inside it, as Microsoft documents for mail add-ins.

    Clients that know 1.1 (Mailbox 1.5) read the inner one and ignore the outer; older ones
    read the outer. Only 1.1 may carry ``SupportsPinning`` (a pinnable pane) and
    ``WebApplicationInfo`` (SSO tokens, when the deployment has an Entra client id), so
    the inner one is always written and the outer one holds neither.
    """
    requirements = ('<Requirements><bt:Sets DefaultMinVersion="1.5">'
                    '<bt:Set Name="Mailbox"/></bt:Sets></Requirements>')
    sso = ""
    if d.client_id:
        sso = f"""
      <WebApplicationInfo>
        <Id>{d.client_id}</Id>
        <Resource>{escape(d.sso_resource)}</Resource>
        <Scopes><Scope>openid</Scope><Scope>profile</Scope></Scopes>
      </WebApplicationInfo>"""
    inner = f"""
    <VersionOverrides xmlns="{VO_1_1}" xsi:type="VersionOverridesV1_1">
      {requirements}{_host(pinning=True)}{_resources(d)}{sso}
    </VersionOverrides>"""
    return f"""
  <VersionOverrides xmlns="{VO_1_0}" xsi:type="VersionOverridesV1_0">
      {requirements}{_host(pinning=False)}{_resources(d)}{inner}
  </VersionOverrides>"""


def render_xml(d: Deployment) -> str:
    """Return the XML manifest for deployment ``d``."""
    # ItemEdit forms take no RequestedHeight (MailApp schema).
    forms = (
        f'<Form xsi:type="ItemRead"><DesktopSettings>'
        f'<SourceLocation DefaultValue={quoteattr(d.pane("read"))}/>'
        f"<RequestedHeight>450</RequestedHeight></DesktopSettings></Form>"
        f'<Form xsi:type="ItemEdit"><DesktopSettings>'
        f'<SourceLocation DefaultValue={quoteattr(d.pane("compose"))}/></DesktopSettings></Form>'
    )
    # AppDomain is an origin (the schema allows 250 characters), never the base URL's path.
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OfficeApp xmlns="http://schemas.microsoft.com/office/appforoffice/1.1"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
           xmlns:bt="http://schemas.microsoft.com/office/officeappbasictypes/1.0"
           xmlns:mailappor="http://schemas.microsoft.com/office/mailappversionoverrides/1.0"
           xsi:type="MailApp">
  <Id>{d.app_id}</Id>
  <Version>{VERSION}.0</Version>
  <ProviderName>{PROVIDER}</ProviderName>
  <DefaultLocale>en-US</DefaultLocale>
  {_localized("DisplayName", "name")}
  {_localized("Description", "description")}
  <IconUrl DefaultValue={quoteattr(d.icon(64))}/>
  <HighResolutionIconUrl DefaultValue={quoteattr(d.icon(128))}/>
  <SupportUrl DefaultValue={quoteattr(d.url("/"))}/>
  <AppDomains><AppDomain>https://{escape(d.host)}</AppDomain></AppDomains>
  <Hosts><Host Name="Mailbox"/></Hosts>
  <Requirements><Sets><Set Name="Mailbox" MinVersion="1.5"/></Sets></Requirements>
  <FormSettings>{forms}</FormSettings>
  <Permissions>ReadWriteItem</Permissions>
  <Rule xsi:type="RuleCollection" Mode="Or">
    <Rule xsi:type="ItemIs" ItemType="Message" FormType="Read"/>
    <Rule xsi:type="ItemIs" ItemType="Message" FormType="Edit"/>
    <Rule xsi:type="ItemIs" ItemType="Appointment" FormType="Read"/>
    <Rule xsi:type="ItemIs" ItemType="Appointment" FormType="Edit"/>
  </Rule>
  <DisableEntityHighlighting>false</DisableEntityHighlighting>{_version_overrides(d)}
</OfficeApp>
"""


class ManifestInvalidError(CrmSyncError):
    """Microsoft's schemas reject a manifest; ``problems`` lists what, by line."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


@functools.cache
def _schema() -> etree.XMLSchema:
    """Microsoft's manifest schema, compiled once (a missing file raises, never skips)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(MANIFEST_XSD), parser))


def xml_problems(document: bytes) -> list[str]:
    """Return what Microsoft's schemas reject in ``document`` (empty when it is valid).

    :param document: an XML manifest, as its encoded bytes.
    """
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    schema = _schema()
    if schema.validate(root):
        return []
    # A rejected value is quoted whole in libxml2's message: shorten it, keep the reason.
    return [f"line {e.line}: {_LONG_VALUE.sub(_shorten, e.message)}" for e in schema.error_log]


_LONG_VALUE = re.compile(r"'([^']{60})[^']{20,}'")


def _shorten(match: re.Match[str]) -> str:
    return f"'{match.group(1)}...'"


def check_xml(document: str) -> None:
    """Validate ``document`` against Microsoft's schemas.

    :raises ManifestInvalidError: Outlook would refuse to install it.
    """
    problems = xml_problems(document.encode("utf-8"))
    if problems:
        shown = problems[:MAX_SHOWN] + ([f"... and {len(problems) - MAX_SHOWN} more"]
                                        if len(problems) > MAX_SHOWN else [])
        raise ManifestInvalidError(
            "the XML manifest does not validate against Microsoft's schemas", shown)
