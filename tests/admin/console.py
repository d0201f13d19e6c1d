"""Driving the admin console without a browser: sign in, read a form's CSRF token."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

#: the console password every test person gets
PASSWORD = "a long console password"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, url: str = "/admin/login") -> str:
    """The CSRF token of the form on ``url`` (bound to this client's session)."""
    match = _TOKEN.search(client.get(url, follow_redirects=True).get_data(as_text=True))
    assert match, f"no form on {url}"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> int:
    """Sign ``client`` in through the form; return the answer's status (302 on success)."""
    answer = client.post("/admin/login", data={
        "email": email, "password": password, "csrf_token": csrf_token(client)})
    return answer.status_code


def post_form(client: FlaskClient, url: str, data: dict[str, str] | None = None,
              form_page: str = "/admin/mailboxes") -> tuple[int, str]:
    """POST to ``url`` as the console's own form would (with a valid CSRF token)."""
    answer = client.post(url, data={**(data or {}), "csrf_token": csrf_token(client,
                                                                             form_page)})
    return answer.status_code, answer.get_data(as_text=True)
