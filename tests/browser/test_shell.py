"""The back-office shell in a real browser: navigation, plugin switches, the dock, failures."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import FloatRect, Page, expect

from tests.browser.conftest import artifact_path, browser_login
from tests.conftest import PARTNER_PLUGINS, ROOT, LiveServer

# The production default. Threading mode would do too, but ``backoffice run`` exits at once in
# it: FlaskGroup sets FLASK_RUN_FROM_CLI, so Flask-SocketIO's ``app.run()`` returns immediately.
ASYNC_MODE = "eventlet"


def status_of(page: Page, url: str) -> int:
    response = page.goto(url)
    assert response is not None, f"no response for {url}"
    return response.status


def open_plugins_page(page: Page) -> None:
    """Admin → Plugins through the left navigation."""
    page.locator('#bo-nav li.bo-section[data-section="Admin"] a[data-menu="Plugins"]').click()
    expect(page).to_have_url(re.compile(r"/admin/plugins/$"))
    expect(page.locator("#bo-plugins")).to_be_visible()
    page.wait_for_load_state("load")


def box(page: Page, selector: str) -> FloatRect:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not displayed"
    return found


def assert_sidebar_on_the_left(page: Page) -> None:
    viewport = page.viewport_size
    assert viewport is not None
    sidebar, main = box(page, ".bo-sidebar"), box(page, ".bo-main")
    assert sidebar["x"] == 0 and sidebar["width"] == 230, sidebar
    assert sidebar["height"] >= viewport["height"], sidebar  # the full height of the window
    assert main["x"] == sidebar["width"], (sidebar, main)  # beside it, not below or over it
    assert main["y"] == sidebar["y"] == 0, (sidebar, main)


def test_admin_disables_and_enables_a_plugin(
    page: Page, live_server_factory: Callable[..., LiveServer], backend: str
) -> None:
    server = live_server_factory(async_mode=ASYNC_MODE, backend=backend)
    browser_login(page, server.url, "admin")
    tools_section = page.locator('#bo-nav li.bo-section[data-section="Tools"]')
    expect(tools_section).to_be_visible()

    open_plugins_page(page)
    row = page.locator('tr[data-plugin="tools"]')
    expect(row).to_have_attribute("data-state", "enabled")
    row.get_by_role("button", name="Disable").click()
    expect(row).to_have_attribute("data-state", "disabled")
    expect(page.locator(".alert", has_text="Plugin tools disabled.")).to_be_visible()
    expect(tools_section).to_have_count(0)
    assert status_of(page, server.url + "/tools/speedtest/") == 404

    page.goto(server.url + "/")
    expect(page.locator("#bo-nav")).to_be_visible()
    expect(tools_section).to_have_count(0)

    open_plugins_page(page)
    row.get_by_role("button", name="Enable").click()
    expect(row).to_have_attribute("data-state", "enabled")
    expect(page.locator(".alert", has_text="Plugin tools enabled.")).to_be_visible()
    expect(tools_section).to_be_visible()
    assert status_of(page, server.url + "/tools/speedtest/") == 200


def test_open_pages_follow_a_switch_made_elsewhere(
    page: Page, live_server_factory: Callable[..., LiveServer]
) -> None:
    """Switched from the command line (no page clicked anything): the worker notices within
    its TTL, and open pages drop the section, the home page its panel, and a page of the
    plugin says it was turned off. Switched back on, it all comes back without a reload."""
    server = live_server_factory(async_mode=ASYNC_MODE)
    browser_login(page, server.url, "admin")
    tools_section = page.locator('#bo-nav li.bo-section[data-section="Tools"]')
    waiting_panel = page.locator("#bo-dashboard .bo-widget", has_text="Waiting room")
    expect(tools_section).to_be_visible()
    expect(waiting_panel).to_be_visible()
    speed_test = page.context.new_page()
    speed_test.goto(server.url + "/tools/speedtest/")
    expect(speed_test.locator('#bo-nav li.bo-section[data-section="Tools"]')).to_be_visible()
    page.evaluate("window.__not_reloaded = true")

    for name in ("tools", "waiting_room"):
        assert server.cli("plugins", "disable", name).returncode == 0
    expect(tools_section).to_have_count(0)
    expect(waiting_panel).to_have_count(0)
    expect(speed_test.locator("#bo-switched-off")).to_contain_text("turned off")
    expect(speed_test.locator('#bo-nav li.bo-section[data-section="Tools"]')).to_have_count(0)
    assert page.evaluate("window.__not_reloaded") is True

    for name in ("tools", "waiting_room"):
        assert server.cli("plugins", "enable", name).returncode == 0
    expect(tools_section).to_be_visible()
    expect(waiting_panel).to_be_visible()
    expect(speed_test.locator("#bo-switched-off")).to_have_count(0)
    assert page.evaluate("window.__not_reloaded") is True


def test_admin_sees_why_a_partner_plugin_failed(
    page: Page, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory(async_mode=ASYNC_MODE, PYTHONPATH=f"{PARTNER_PLUGINS}:{ROOT}")
    browser_login(page, server.url, "admin")
    page.screenshot(path=artifact_path("shell-home.png"), full_page=True)
    assert_sidebar_on_the_left(page)

    open_plugins_page(page)
    failed = page.locator('tr[data-plugin="partner_broken"][data-state="failed"]')
    expect(failed).to_be_visible()
    expect(failed.get_by_role("button")).to_have_count(0)  # nothing to switch
    details = page.locator("details", has_text="Why partner_broken failed")
    traceback = details.locator("pre.bo-traceback")
    expect(traceback).to_be_hidden()
    details.locator("summary").click()
    expect(traceback).to_be_visible()
    expect(traceback).to_contain_text("partner_broken exploded at import")
    expect(page.locator('tr[data-plugin="partner_hello"]')).to_have_attribute(
        "data-state", "enabled"
    )
    page.screenshot(path=artifact_path("shell-plugins.png"), full_page=True)

    assert status_of(page, server.url + "/partner-hello/") == 200
    expect(page.locator("#partner-hello")).to_have_text("Hello from a partner plugin")


def test_content_fills_the_main_column(
    page: Page, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory(async_mode=ASYNC_MODE)
    browser_login(page, server.url, "admin")
    for path in ("/", "/admin/plugins/"):
        page.goto(server.url + path)
        main, content = box(page, ".bo-main"), box(page, "main.bo-content")
        assert (content["x"], content["width"]) == (main["x"], main["width"]), path
