"""Fixtures shared by the console's tests: the real headless Chromium of the task pane's
tests (one browser for the whole session, whichever directory starts it)."""

from tests.addin.conftest import browser  # noqa: F401  (the fixture)
