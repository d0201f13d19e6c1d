"""Compose mode (templates, track on send), hostile mail text, and the pane's security headers."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select

from crmsync.crm.models import Activity, ActivityLink
from tests.addin.conftest import LiveApp
from tests.addin.pane import open_preview

DATA = Path(__file__).with_name("data")


def test_compose_inserts_the_template_that_fits_the_thread(page, live: LiveApp) -> None:
    # Replying to Ana about the proposal, the proposal template comes first and fills her name.
    live.cli("cases", "templates", "import", str(DATA / "templates.json"))
    pane = open_preview(page, live, "<demo-001@mail.example>", mode="compose")
    first = pane.locator("[data-test=template]").first
    expect(first.locator("[data-test=template-name]")).to_have_text("Proposal follow-up")
    expect(first.locator("[data-test=template-fits]")).to_contain_text("proposal")
    first.locator("[data-test=insert-template]").click()
    body = page.locator("#compose-body")
    expect(body).to_have_value(
        "Hi Ana,\n\nthank you for your questions on the proposal; answers below.\n\n"
        "Best regards,\nMaria Lopez"
    )


def test_track_on_send_links_the_reply_when_it_is_synced(page, live: LiveApp, tmp_path) -> None:
    # A rep picks Initech while writing; when the sent reply is synced it is tracked there.
    pane = open_preview(page, live, "<demo-004@mail.example>", mode="compose")
    pane.locator("[data-test=search]").fill("Initech")
    pane.locator("[data-test=search]").press("Enter")
    pane.locator("[data-test=search-results] [data-test=pick]").first.click()
    expect(pane.locator("[data-test=intent-status]")).to_have_text(
        "Will be tracked to Initech when sent.")
    sent = tmp_path / "sent.eml"
    sent.write_bytes(
        b"From: Maria Lopez <maria.lopez@northwind.example>\r\nTo: hank@globex.example\r\n"
        b"Subject: RE: Globex pilot kickoff\r\nMessage-ID: <sent-1@northwind.example>\r\n"
        b"In-Reply-To: <demo-004@mail.example>\r\nReferences: <demo-004@mail.example>\r\n"
        b"Date: Mon, 2 Nov 2099 10:00:00 +0000\r\n\r\nSee you Monday.\r\n"
    )
    live.cli("mail", "import", str(sent))
    with live.cli.session() as session:
        links = session.scalars(select(ActivityLink).join(Activity).where(
            Activity.internet_message_id == "<sent-1@northwind.example>")).all()
        user_links = [x for x in links if x.source == "user"]
        assert [x.account.name for x in user_links] == ["Initech"]


HOSTILE_SUBJECT = b'<img src=x onerror="parent.__xss=1"><script>parent.__xss=2</script>'


def test_hostile_subject_and_name_render_as_text(page, live: LiveApp, tmp_path) -> None:
    # Script in a subject or display name shows as text; nothing runs, no dialog opens.
    hostile = tmp_path / "hostile.eml"
    hostile.write_bytes(
        b'From: "<svg onload=alert(1)>" <ana.ruiz@acme.example>\r\n'
        b"To: maria.lopez@northwind.example\r\nSubject: " + HOSTILE_SUBJECT + b"\r\n"
        b"Message-ID: <xss-1@acme.example>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n"
        b"<script>alert(2)</script>\r\n"
    )
    live.cli("mail", "import", str(hostile))
    pane = open_preview(page, live, "<xss-1@acme.example>")
    pane.locator("[data-test=create-case]").click()
    expect(pane.locator("[data-test=case-subject]")).to_have_value(HOSTILE_SUBJECT.decode())
    history = pane.locator("[data-test=timeline-item]", has_text="<script>")
    expect(history.first).to_be_visible()
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    assert pane.locator("img, svg, script:not([src])").count() == 0


def test_pane_headers_forbid_inline_script_and_foreign_framing(live: LiveApp) -> None:
    # The pane allows scripts only from itself and Office.js's CDN, and only Office hosts frame it.
    client = live.app.test_client()
    csp = client.get("/addin/taskpane.html").headers["Content-Security-Policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert script_src.split()[1:] == ["'self'", "https://appsforoffice.microsoft.com"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'self' https://outlook.office.com" in csp
    page = client.get("/addin/taskpane.html").get_data(as_text=True)
    assert "https://appsforoffice.microsoft.com/lib/1/hosted/office.js" in page
    preview = client.get("/addin/preview")
    assert "frame-ancestors 'none'" in preview.headers["Content-Security-Policy"]
    assert preview.headers["X-Content-Type-Options"] == "nosniff"


def test_preview_is_off_without_demo(sample_cli) -> None:
    # Outside demo mode the preview page and the Office.js stand-in are not served.
    from crmsync.sync_service.web.app import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": sample_cli.env["CRMSYNC_DATABASE_URL"]})
    try:
        client = app.test_client()
        assert client.get("/addin/preview").status_code == 404
        page = client.get("/addin/taskpane.html?office=standin").get_data(as_text=True)
        assert "office-standin.js" not in page
    finally:
        app.extensions["crmsync"].dispose()
