"""The XML add-in-only manifest (``OfficeApp`` of type ``MailApp``, VersionOverrides 1.0/1.1).

Element order follows Microsoft's schemas (``OfficeAppManifestV1_1``,
``MailAppVersionOverridesV1_0``/``V1_1``), which are sequences: order matters.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from crmsync.manifest import PROVIDER, STRINGS, VERSION, Deployment

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


def _extension_point(surface: str, prefix: str) -> str:
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
                    <SourceLocation resid="Taskpane.{prefix}"/>
                    <SupportsPinning>true</SupportsPinning>
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


def _host(d: Deployment) -> str:
    points = "".join(_extension_point(surface, prefix) for surface, prefix, _ in SURFACES)
    return f"""
      <Hosts>
        <Host xsi:type="MailHost">
          <DesktopFormFactor>{points}
          </DesktopFormFactor>
        </Host>
      </Hosts>"""


def _version_overrides(d: Deployment) -> str:
    """VersionOverrides 1.0, with 1.1 inside it carrying SSO's WebApplicationInfo when set."""
    requirements = ('<Requirements><bt:Sets DefaultMinVersion="1.5">'
                    '<bt:Set Name="Mailbox"/></bt:Sets></Requirements>')
    inner = ""
    if d.client_id:
        inner = f"""
    <VersionOverrides xmlns="{VO_1_1}" xsi:type="VersionOverridesV1_1">
      {requirements}{_host(d)}{_resources(d)}
      <WebApplicationInfo>
        <Id>{d.client_id}</Id>
        <Resource>{escape(d.sso_resource)}</Resource>
        <Scopes><Scope>openid</Scope><Scope>profile</Scope></Scopes>
      </WebApplicationInfo>
    </VersionOverrides>"""
    return f"""
  <VersionOverrides xmlns="{VO_1_0}" xsi:type="VersionOverridesV1_0">
      {requirements}{_host(d)}{_resources(d)}{inner}
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
  <AppDomains><AppDomain>{escape(d.base_url)}</AppDomain></AppDomains>
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
