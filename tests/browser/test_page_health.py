"""Every main staff and patient page in Chromium: a clean console and no serious barrier.

On each page: no console error, no uncaught exception, no failed request and no answer of
400 or more (the favicon included), and axe-core (vendored from the npm registry, see
vendor/axe-core-*/SOURCE.txt) finds no serious or critical violation. Patients include
people on phones, with screen readers and with poor eyesight, so their pages are checked in
a phone-sized window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect

from core.api import Client, portal_link
from core.app import create_app
from core.database import db
from tests.browser.conftest import TIMEOUT_MS, browser_login
from tests.conftest import DatabaseFactory, LiveServer, base_overrides

AXE = next((Path(__file__).parent / "vendor").glob("axe-core-*/axe.min.js"))
BARRIERS = {"serious", "critical"}
STATIC = r"/\/(plugin-)?static\/.*\.(js|css)(\?|$)/"
ASSETS_LOADED = f"""() => performance.getEntriesByType("resource")
  .filter(r => {STATIC}.test(r.name)).map(r => r.name)"""
ASSETS_FETCHED = f"""() => performance.getEntriesByType("resource")
  .filter(r => {STATIC}.test(r.name) && r.transferSize > 0).map(r => r.name)"""
RUN_AXE = """() => axe.run(document, { resultTypes: ["violations"] }).then(result =>
  result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + n.failureSummary),
  })))"""


class PageHealth:
    """What went wrong on the page since the last look."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location})")

    def _failed(self, request: Request) -> None:
        self.problems.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} for {response.url}")

    def check(self, label: str) -> None:
        """The page has settled: nothing went wrong, and axe finds no barrier."""
        self.page.wait_for_load_state("networkidle")
        self.page.evaluate(AXE.read_text())
        violations: list[dict[str, Any]] = self.page.evaluate(RUN_AXE)
        barriers = [v for v in violations if v["impact"] in BARRIERS]
        problems, self.problems = self.problems, []
        assert not problems, f"{label}: {problems}"
        assert not barriers, f"{label}: {barriers}"


@contextmanager
def phone_page(browser: Browser, width: int, height: int) -> Iterator[Page]:
    """A page in a phone-sized, touch context of its own, closed afterwards."""
    phone = browser.new_context(viewport={"width": width, "height": height}, is_mobile=True)
    phone.set_default_timeout(TIMEOUT_MS)
    try:
        yield phone.new_page()
    finally:
        phone.close()


@pytest.fixture
def server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory(async_mode="eventlet")


def walk_the_menu(page: Page, health: PageHealth, at_least: int) -> None:
    """Every page of the left navigation, reached by clicking it as a person does (but
    Settings > Logout, which would end the walk)."""
    links = page.eval_on_selector_all(
        "#bo-nav a[href]:not(.bo-dock-open):not([href^='/logout'])",
        "links => links.map(a => a.getAttribute('href'))",
    )
    assert len(links) >= at_least, links
    for href in dict.fromkeys(links):
        page.locator(f'#bo-nav a[href="{href}"]').first.click()
        expect(page).to_have_url(re.compile(re.escape(href) + r"(\?.*)?$"))
        health.check(href)


def test_main_staff_pages_are_clean_and_accessible(server: LiveServer, page: Page) -> None:
    health = PageHealth(page)
    page.goto(server.url + "/login/")
    health.check("login")
    browser_login(page, server.url, "clinician1")
    health.check("home")
    walk_the_menu(page, health, at_least=8)


def test_admin_pages_are_clean_and_accessible(server: LiveServer, page: Page) -> None:
    health = PageHealth(page)
    browser_login(page, server.url, "admin")
    health.check("home")
    walk_the_menu(page, health, at_least=20)


def test_main_patient_pages_are_clean_and_accessible(
    server: LiveServer, browser: Browser, page: Page
) -> None:
    with phone_page(browser, 390, 844) as patient:
        health = PageHealth(patient)
        patient.goto(server.url + "/wait/")
        health.check("join-code form")
        patient.goto(server.url + "/wait/demo-practice")
        expect(patient.locator("#wr-step-check")).to_be_visible()
        health.check("device check")
        patient.locator("#wr-check-start").click()
        expect(patient.locator("#wr-check-continue")).to_be_visible()
        health.check("device check done")
        patient.locator("#wr-check-continue").click()
        expect(patient.locator("#wr-step-form")).to_be_visible()
        health.check("check-in form")
        patient.locator("#wr-name").fill("Jordan Health")
        patient.locator("#wr-join").click()
        expect(patient.locator("#wr-step-wait")).to_be_visible()
        health.check("waiting")

        browser_login(page, server.url, "clinician1")
        page.goto(server.url + "/video/new")
        page.click("#video-new-start")
        page.click("#video-patient-link")
        expect(page.locator("#video-link")).to_have_value(re.compile(r"/video/p/"))
        patient.goto(page.input_value("#video-link"))
        expect(patient.locator("#video-participants li")).to_have_count(2)
        health.check("video session")


def test_dock_and_portal_pages_are_clean_and_accessible(
    databases: DatabaseFactory,
    live_server_factory: Callable[..., LiveServer],
    tmp_path: Path,
    browser: Browser,
    page: Page,
) -> None:
    """The pages the menu opens in the dock (Upload Site, Patient Portal), on their own and
    as the dock shows them, and the signed-in patient's portal pages on a phone."""
    database_url = databases.new("sqlite")
    app = create_app(base_overrides(database_url, tmp_path / "links"))
    with app.app_context(), app.test_request_context():
        alex = db.session.scalar(sa.select(Client).where(Client.first_name == "Alex"))
        assert alex is not None
        link = portal_link(alex.id)
        db.session.remove()
    assert link is not None
    server = live_server_factory(async_mode="eventlet", database_url=database_url)

    health = PageHealth(page)
    browser_login(page, server.url, "admin")
    docked = page.eval_on_selector_all(
        "#bo-nav a.bo-dock-open[data-dock-url]", "links => links.map(a => a.dataset.dockUrl)"
    )
    assert len(docked) >= 2, docked
    for url in docked:
        for shown in (url, url.split("?")[0]):
            page.goto(server.url + shown)
            health.check(shown)

    with phone_page(browser, 360, 740) as patient:
        health = PageHealth(patient)
        patient.goto(server.url + "/portal/sign-in")
        health.check("portal sign-in")
        patient.goto(server.url + "/" + link.split("/", 3)[3])
        expect(patient).to_have_url(re.compile(r"/portal/"))
        health.check("portal home")
        sections = patient.eval_on_selector_all(
            "main a[href^='/portal/'], main a[href^='/upload-site/']",
            "links => links.map(a => a.getAttribute('href'))",
        )
        for href in dict.fromkeys(h for h in sections if "sign-out" not in h):
            patient.goto(server.url + href)
            health.check(href)


def test_after_the_login_page_no_asset_is_fetched_again(server: LiveServer, page: Page) -> None:
    """What held up the dashboard's load event: some thirty stylesheets and scripts asked
    for again on every page (twenty of them render-blocking). Now the login page's copies
    serve the dashboard and the next page from the browser's cache."""
    page.goto(server.url + "/login/")
    seen = set(page.evaluate(ASSETS_LOADED))
    browser_login(page, server.url, "clinician1")
    for path in ("/", "/waiting-room/"):
        if path != "/":
            page.locator('#bo-nav a[data-menu="Live Waiting Room"]').click()
            expect(page).to_have_url(server.url + path)
            page.wait_for_load_state("load")
        loaded = page.evaluate(ASSETS_LOADED)
        again = page.evaluate(ASSETS_FETCHED)
        assert [url for url in again if url in seen] == [], (path, again)
        assert len(set(loaded) & seen) > 20, loaded  # the shared ones were really used
        seen |= set(loaded)
