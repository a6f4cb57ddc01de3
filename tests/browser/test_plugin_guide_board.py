"""The plugin guide's board page (docs/plugin-guide.md, Step 6) in Chromium: its script,
run as the guide writes it, talks over the shell's own socket and passes the CSP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from core.testing import DatabaseFactory, LiveServer
from tests.browser.conftest import browser_login
from tests.test_plugin_guide import install_example


@pytest.fixture
def guide_server(tmp_path: Path, databases: DatabaseFactory) -> Iterator[LiveServer]:
    site = tmp_path / "site"
    install_example(site)
    server = LiveServer(
        database_url=databases.new("sqlite"),
        instance_dir=tmp_path / "live",
        async_mode="eventlet",
        extra_env={"PYTHONPATH": str(site)},
    )
    upgraded = server.cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    server.start()
    yield server
    server.stop()


def test_the_board_adds_notes_live_over_the_pages_own_socket(
    guide_server: LiveServer, page: Page, browser: Browser
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    browser_login(page, guide_server.url, "clinician1")
    page.goto(guide_server.url + "/visit-notes/board/")

    other = browser.new_context().new_page()
    browser_login(other, guide_server.url, "admin")
    other.goto(guide_server.url + "/visit-notes/board/")

    page.fill("#visit-notes-quick input[name=subject]", "Called back")
    page.click("#visit-notes-quick button[type=submit]")
    expect(page.locator("#visit-notes-status")).to_have_text("Added.")
    expect(page.locator("#visit-notes-board li", has_text="Called back")).to_have_count(1)
    # Everyone else's board hears it (the note_added notification), with no reload.
    expect(other.locator("#visit-notes-board li", has_text="Called back")).to_have_count(1)

    page.click("#visit-notes-quick button[type=submit]")  # empty: the browser refuses it
    expect(page.locator("#visit-notes-board li")).to_have_count(1)
    # One socket per page: the shell's; no "open elsewhere", nothing refused by the CSP.
    expect(page.locator("#bo-overlay")).to_be_hidden()
    assert not [p for p in problems if "Content Security Policy" in p], problems
    other.context.close()
