"""Write samples/mailbox.mbox: the demo mailbox of Maria Lopez (northwind.example).

Run once; the output is committed so the demo needs nothing but this repo.
It covers what a newcomer should see: mail from and to contacts, a thread,
a Chinese (GB2312) subject and name, mail from an unknown person at a customer
domain, internal-only mail and a newsletter (counted, not stored), an HTML-only
mail, an attachment, and a malformed mail (quarantined).
"""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

START = datetime(2026, 10, 5, 8, 30, tzinfo=UTC)
ME = ("Maria Lopez", "maria.lopez@northwind.example")


def mail(n, sender, to, subject, body, *, cc=(), reply_to_id=None, refs=(), html=None,
         attachment=None, headers=None):
    msg = EmailMessage()
    msg["From"] = formataddr(sender)
    msg["To"] = ", ".join(formataddr(t) for t in to)
    if cc:
        msg["Cc"] = ", ".join(formataddr(c) for c in cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(START + timedelta(hours=7 * n))
    msg["Message-ID"] = f"<demo-{n:03d}@mail.example>"
    if reply_to_id:
        msg["In-Reply-To"] = reply_to_id
        msg["References"] = " ".join([*refs, reply_to_id])
    for name, value in (headers or {}).items():
        msg[name] = value
    if html and not body:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
        if html:
            msg.add_alternative(html, subtype="html")
    if attachment:
        name, data, maintype, subtype = attachment
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def chinese_mail(n):
    """A mail as Chinese clients send it: GB2312, base64 words."""
    body = _b64("张伟你好，\n\n报价已收到，我们下周二开会讨论。\n\n李晓明", "gb2312")
    raw = (
        f"From: =?gb2312?B?{_b64('李晓明', 'gb2312')}?= <xiaoming.li@yunfan.example.cn>\n"
        "To: Zhang Wei <wei.zhang@northwind.example>, Maria Lopez <maria.lopez@northwind.example>\n"
        f"Subject: =?gb2312?B?{_b64('回复：数据平台报价', 'gb2312')}?=\n"
        f"Date: {format_datetime(START + timedelta(hours=7 * n))}\n"
        f"Message-ID: <demo-{n:03d}@yunfan.example.cn>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=gb2312\n"
        "Content-Transfer-Encoding: base64\n\n"
        f"{body}\n"
    )
    return mailbox.mboxMessage(raw.encode("ascii"))


def _b64(text, charset):
    import base64

    return base64.b64encode(text.encode(charset)).decode()


def messages():
    ana = ("Ana Ruiz", "ana.ruiz@acme.example")
    tom = ("Tom Becker", "tom.becker@acme.example")
    hank = ("Hank Scorpio", "hank@globex.example")
    wei = ("Zhang Wei", "wei.zhang@northwind.example")
    sam = ("Sam Taylor", "sam.taylor@northwind.example")
    yield mail(1, ana, [ME], "Fleet renewal: questions on the proposal",
               "Hi Maria,\n\nthanks for the proposal. Can you confirm the service levels?\n\nAna")
    yield mail(2, ME, [ana], "RE: Fleet renewal: questions on the proposal",
               "Hi Ana,\n\nyes: 99.9% uptime and 4-hour response.\n\nMaria",
               reply_to_id="<demo-001@mail.example>")
    yield mail(3, ana, [ME], "AW: RE: Fleet renewal: questions on the proposal",
               "Perfect, I will take it to the board.\n\nAna", cc=[tom],
               reply_to_id="<demo-002@mail.example>", refs=["<demo-001@mail.example>"])
    yield mail(4, hank, [ME], "Globex pilot kickoff",
               "Maria, let's kick off the pilot on Monday.\n\nHank")
    yield mail(5, ("Jo Park", "jo.park@acme.example"), [ME], "Invoice address change",
               "Hello, please send invoices to our new address.\n\nJo Park, Acme accounts payable")
    yield mail(6, wei, [ME], "Internal: Q4 forecast", "Maria, please update your forecast.")
    yield mail(7, ("Cloud Weekly", "news@newsletter.example"), [ME], "This week in cloud",
               "Ten things you missed.", headers={"List-Id": "<weekly.newsletter.example>"})
    yield mail(8, ME, [hank], "Pilot plan", "",
               html="<p>Hi Hank,</p><p>the <b>pilot plan</b> is attached.</p>",
               attachment=("pilot-plan.pdf", b"%PDF-1.4 demo" * 2000, "application", "pdf"))
    yield chinese_mail(9)
    yield mail(10, ("Peter Gibbons", "peter.gibbons@gmail.com"), [ME], "TPS reports",
               "Maria, did you get the memo about the TPS reports?\n\nPeter")
    yield mail(11, tom, [ME, sam], "Outage at our Berlin site",
               "Our Berlin site cannot reach the portal since 9:00.\n\nTom")
    yield mail(12, sam, [tom], "RE: Outage at our Berlin site",
               "Tom, we are on it and will report back within the hour.\n\nSam",
               reply_to_id="<demo-011@mail.example>")
    broken = mailbox.mboxMessage(
        b"Subject: no sender here\nDate: Mon, 5 Oct 2026 10:00:00 +0000\n"
        b"Message-ID: <demo-013@mail.example>\n\nThis mail has no From header.\n"
    )
    yield broken


def main() -> None:
    path = Path(__file__).with_name("mailbox.mbox")
    path.unlink(missing_ok=True)
    box = mailbox.mbox(path)
    for message in messages():
        box.add(message)
    box.flush()
    box.close()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
