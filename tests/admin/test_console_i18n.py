"""The console's languages and layout: Chinese for browsers that ask, every phrase
translated, and pages that fit a 360 px phone and a 1440 px desktop without sideways
scrolling, in a real Chromium."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import crmsync.sync_service.web.admin as console_package
from crmsync.sync_service.web.admin.blueprint import NAV
from crmsync.sync_service.web.admin.i18n import CHINESE
from tests.admin.chromium import LiveConsole, console_page, live_console, sign_in_page
from tests.engine.mailboxes import add_mailbox, new_user
from tests.servers.dovecot import DovecotServer

__all__ = ["live_console"]  # the fixture the Chromium tests use

CONSOLE = Path(console_package.__file__).parent
TEMPLATES = CONSOLE / "templates"
#: ``_("...")`` / ``_('...')`` with a literal, in a template
TEMPLATE_PHRASE = re.compile(r"""\b_\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)""")
#: ``translate("...")`` with a literal, in a console module (flashed messages)
CODE_PHRASE = re.compile(r"""\btranslate\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)""")
WIDTHS = (360, 1440)
#: a mailbox name with no place to break a line: it must wrap, not widen the page
LONG_NAME = "northwind-customer-support-shared-mailbox-for-emea-and-apac-regions"


def _import_every_console_module() -> None:
    """Each module registers its phrases (``add_chinese``) and pages (``NAV``) on import."""
    for module in pkgutil.iter_modules([str(CONSOLE)]):
        importlib.import_module(f"{console_package.__name__}.{module.name}")


def _phrases() -> dict[str, set[str]]:
    """Every phrase the console passes to ``_()`` or ``translate()``, with where."""
    found: dict[str, set[str]] = {}
    sources = [(p, TEMPLATE_PHRASE) for p in TEMPLATES.rglob("*.html")]
    sources += [(p, CODE_PHRASE) for p in CONSOLE.glob("*.py")]
    for path, pattern in sources:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(1)[1:-1], set()).add(path.name)
    for _, label in NAV:
        found.setdefault(label, set()).add("NAV")
    return found


def test_every_phrase_of_the_console_has_its_chinese() -> None:
    # A phrase without a translation shows in English to a Chinese reader.
    _import_every_console_module()
    phrases = _phrases()
    assert len(phrases) > 50, "the patterns found too few phrases to be trusted"
    missing = sorted(f"{text!r} ({', '.join(sorted(where))})"
                     for text, where in phrases.items() if text not in CHINESE)
    if missing:
        pytest.fail("no Chinese for:\n" + "\n".join(missing))


@pytest.fixture
def with_mailboxes(live_console: LiveConsole, dovecot: DovecotServer) -> Iterator[LiveConsole]:
    """Two mailboxes on the real Dovecot: one with a long name, one paused."""
    cli = live_console.cli
    add_mailbox(cli, dovecot, new_user(dovecot), LONG_NAME)
    add_mailbox(cli, dovecot, new_user(dovecot), "paused-box")
    cli("mailbox", "pause", "paused-box")
    yield live_console


def test_a_chinese_browser_sees_the_console_in_chinese(browser, with_mailboxes) -> None:
    # Chromium set to zh-CN sends Accept-Language: zh-CN, and every page answers in Chinese.
    url = with_mailboxes.url
    with console_page(browser, locale="zh-CN") as page:
        page.goto(url + "/admin/login")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("label[for=email]").inner_text() == "电子邮件"
        assert page.locator("main button[type=submit]").inner_text() == "登录"
        sign_in_page(page, url)
        assert page.locator("main h2").first.inner_text() == "邮箱"
        assert page.get_by_role("link", name="添加邮箱").is_visible()
        assert page.locator("section.mailbox button").first.inner_text() in ("暂停", "恢复")
        page.goto(url + "/admin/users")
        row = page.locator('tr[data-user="olivia.admin@northwind.example"]')
        assert row.locator("td.role").inner_text() == "管理员"
        assert row.locator("td.console").inner_text() == "可以"
        assert page.get_by_role("button", name="设置密码").is_visible()


def test_an_english_browser_sees_the_console_in_english(browser, with_mailboxes) -> None:
    # The same pages in an en-US Chromium: English, with the labels INTERFACES names.
    url = with_mailboxes.url
    with console_page(browser, locale="en-US") as page:
        page.goto(url + "/admin/login")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("label[for=email]").inner_text() == "Email"
        assert page.locator("main button[type=submit]").inner_text() == "Sign in"
        sign_in_page(page, url)
        assert page.locator("main h2").first.inner_text() == "Mailboxes"
        assert page.get_by_role("link", name="Add mailbox").is_visible()
        page.goto(url + "/admin/users")
        row = page.locator('tr[data-user="olivia.admin@northwind.example"]')
        assert row.locator("td.role").inner_text() == "admin"
        assert "邮箱" not in page.content()


def _fits(page, where: str) -> None:
    """No sideways scrolling of the document."""
    scroll, inner = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{where}: the page is {scroll} px wide in a {inner} px window"


def _usable(page, locator, where: str) -> None:
    """Visible, inside the window, and nothing covers it (Playwright's trial click)."""
    assert locator.is_visible(), where
    box = locator.bounding_box()
    width = page.evaluate("window.innerWidth")
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{where}: {box}"
    locator.click(trial=True, timeout=2000)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_console_fits_phones_and_desktops(browser, with_mailboxes, width: int) -> None:
    # At 360 px and at 1440 px: no page scrolls sideways, and the controls people need
    # (Add mailbox, each mailbox's buttons, the users forms) can be seen and pressed.
    url = with_mailboxes.url
    with console_page(browser, width=width) as page:
        page.goto(url + "/admin/login")
        _fits(page, f"sign-in at {width}")
        _usable(page, page.locator("main button[type=submit]"), "Sign in")
        sign_in_page(page, url)
        _fits(page, f"mailboxes at {width}")
        _usable(page, page.get_by_role("link", name="Add mailbox"), "Add mailbox")
        cards = page.locator("section.mailbox")
        assert cards.count() == 2
        for n in range(cards.count()):
            buttons = cards.nth(n).locator("button")
            assert buttons.count() >= 2
            for b in range(buttons.count()):
                _usable(page, buttons.nth(b), f"mailbox {n} button {b} at {width}")
        for path in ("/admin/users", "/admin/keys", "/admin/audit"):
            page.goto(url + path)
            _fits(page, f"{path} at {width}")
        page.goto(url + "/admin/users")
        for name in ("Save", "Set password"):
            _usable(page, page.get_by_role("button", name=name), f"{name} at {width}")
