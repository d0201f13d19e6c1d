"""Reply templates: shared by the task pane (insert a reply) and support mailboxes (acknowledge).

A template's ``keywords`` (any language, ``;``-separated) rank it for a thread; its
body may hold placeholders such as ``{contact_first_name}``, ``{case_number}`` and
``{rep_name}``, filled when it is used.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crmsync.crm.models import Base, UtcDateTime


class ReplyTemplate(Base):
    __tablename__ = "reply_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    #: ``;``-separated words or phrases that make this template fit a thread
    keywords: Mapped[str] = mapped_column(Text, default="")
    #: case category it answers (email-to-case rules name templates by it), or ""
    category: Mapped[str] = mapped_column(String(100), default="")
    #: BCP 47 language tag of the text ("en", "zh-CN"), "" when any
    language: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
