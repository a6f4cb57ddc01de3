"""The Help Center in Chromium: every tour step's element exists on its page (so the tour
cannot drift from the UI), the tour is offered once and walks across pages, and a script
in an article does not run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import browser_login
from tests.conftest import PARTNER_PLUGINS, ROOT, LiveServer


def open_a_video_session(page: Page, base_url: str) -> None:
    """The video controls' step points at the user's open session: make one."""
    page.goto(base_url + "/video/new")
    page.click("#video-new-start")
    expect(page.locator(".video-controls")).to_be_attached()


def tour_steps(page: Page, base_url: str) -> list[dict[str, Any]]:
    response = page.request.get(base_url + "/help/tour/steps")
    assert response.ok, response.text()
    steps: list[dict[str, Any]] = response.json()["steps"]
    return steps


def test_every_tour_step_points_at_an_element_on_its_page(
    live_server: LiveServer, page: Page
) -> None:
    browser_login(page, live_server.url, "clinician1")
    open_a_video_session(page, live_server.url)
    steps = tour_steps(page, live_server.url)
    covered = {step["plugin"] for step in steps}
    assert {"help_center", "waiting_room", "calendar", "consent", "video", "staff_chat"} <= covered
    titles = {step["title"] for step in steps}
    assert {"Start Telehealth Session", "Consent", "Video controls", "Staff chat"} <= titles
    missing: list[str] = []
    for step in steps:
        page.goto(live_server.url + step["page"])
        try:
            page.wait_for_selector(step["element"], state="attached", timeout=10_000)
        except Exception:
            missing.append(f"{step['plugin']}: {step['element']} not on {step['page']}")
    assert missing == []


def test_a_partner_plugin_joins_the_tour_and_the_knowledge_base(
    live_server_factory: Callable[..., LiveServer], page: Page
) -> None:
    server = live_server_factory(PYTHONPATH=f"{PARTNER_PLUGINS}:{ROOT}")
    browser_login(page, server.url, "admin")
    step = next(s for s in tour_steps(page, server.url) if s["plugin"] == "partner_hello")
    page.goto(server.url + step["page"])
    expect(page.locator(step["element"])).to_be_visible()
    page.evaluate("window.sessionStorage.clear()")
    page.evaluate(
        "steps => { sessionStorage.setItem('bo-tour-run', JSON.stringify({steps, index: 0})); }",
        [step],
    )
    page.reload()
    expect(page.locator(".driver-popover-title")).to_have_text("Partner Hello")
    page.click(".driver-popover-close-btn")
    page.click("#bo-help")
    expect(page.locator("#help-article-title")).to_have_text("Saying hello with the partner plugin")


def test_the_tour_is_offered_once_and_walks_across_pages(
    live_server: LiveServer, page: Page, context: Any
) -> None:
    browser_login(page, live_server.url, "frontdesk")
    offer = page.locator("#help-tour-offer")
    expect(offer).to_be_visible()
    page.click("#help-tour-accept")
    popover = page.locator(".driver-popover")
    expect(popover).to_be_visible()
    expect(page.locator(".driver-popover-title")).to_have_text("Navigation")
    expect(page.locator(".driver-popover-progress-text")).to_contain_text("1 of ")
    page.click(".driver-popover-next-btn")
    expect(page.locator(".driver-popover-title")).to_have_text("Help on every page")
    page.click(".driver-popover-next-btn")  # front desk may send QuickVites: its button
    expect(page.locator(".driver-popover-title")).to_have_text("Patient QuickVite")
    page.click(".driver-popover-next-btn")  # the next stop is on another page
    page.wait_for_url("**/waiting-room/")
    expect(page.locator(".driver-popover-title")).to_have_text("The live waiting room")
    page.click(".driver-popover-prev-btn")
    page.wait_for_url(live_server.url + "/")
    expect(page.locator(".driver-popover-title")).to_have_text("Patient QuickVite")
    page.click(".driver-popover-close-btn")
    expect(popover).to_have_count(0)
    page.reload()
    expect(page.locator("#bo-nav")).to_be_visible()
    expect(page.locator(".driver-popover")).to_have_count(0)
    expect(offer).to_have_count(0)

    # A new browser and a new login: offered already, so not again; restartable from Help.
    fresh = context.browser.new_context()
    other = fresh.new_page()
    browser_login(other, live_server.url, "frontdesk")
    other.wait_for_timeout(500)
    expect(other.locator("#help-tour-offer")).to_have_count(0)
    other.goto(live_server.url + "/help/")
    other.click("#help-tour-start")
    expect(other.locator(".driver-popover-title")).to_have_text("Navigation")
    fresh.close()


def test_the_question_mark_opens_the_page_s_article(live_server: LiveServer, page: Page) -> None:
    browser_login(page, live_server.url, "clinician1")
    page.goto(live_server.url + "/calendar/")
    page.click("#bo-help")
    expect(page.locator("#help-article-title")).to_have_text(
        "Launching a telehealth session from an appointment"
    )


def test_a_script_in_an_article_does_not_run(live_server: LiveServer, page: Page) -> None:
    browser_login(page, live_server.url, "practiceadmin")
    page.goto(live_server.url + "/help/practice-articles/add")
    page.fill("#title", "Careful")
    page.fill("#slug", "careful")
    page.fill("#audience", "clinician")
    page.fill(
        "#body",
        "Plain words.\n\n<script>window.pwned = 1</script>\n\n"
        '<img src="/nope.png" onerror="window.pwned = 2">\n\n'
        '<a href="javascript:window.pwned=3" id="evil">click</a>\n',
    )
    page.locator("#model_form [type=submit]").first.click()
    page.goto(live_server.url + "/help/articles/practice/careful")
    expect(page.locator("#help-article-body")).to_contain_text("Plain words.")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # the broken image's error event has fired by now
    assert page.evaluate("window.pwned") is None
    assert page.locator("#help-article-body script").count() == 0
    assert page.locator("#help-article-body [onerror]").count() == 0
    page.click("#help-article-body a")
    assert page.evaluate("window.pwned") is None
