"""Reporting in Chromium: open a report, filter it, drill down from the chart, export CSV."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.browser.conftest import browser_login
from tests.conftest import LiveServer, base_overrides


def seed(server: LiveServer, tmp_path: Path) -> dict[str, int]:
    """Visits over the last 20 days on the server's database; how many attended per kind."""
    from core.app import create_app
    from core.database import db
    from plugins.reporting.models import Visit
    from plugins.reporting.seed import seed_visits

    app = create_app(base_overrides(server.database_url, tmp_path / "seeding"))
    with app.app_context():
        seed_visits(400, days=20, seed=7)
        query = (
            select(Visit.invite_kind, func.count())
            .where(Visit.outcome == "attended")
            .group_by(Visit.invite_kind)
        )
        attended = {kind: int(count) for kind, count in db.session.execute(query)}
        db.session.remove()
        db.engine.dispose()
    return attended


def test_open_filter_drill_down_and_export(
    live_server_factory: Callable[..., LiveServer], page: Page, tmp_path: Path
) -> None:
    server = live_server_factory(async_mode="eventlet")
    attended = seed(server, tmp_path)
    browser_login(page, server.url, "practiceadmin")
    page.goto(server.url + "/reporting/")
    page.get_by_role("link", name=re.compile("Attendance")).click()
    expect(page.locator("#rp-chart")).to_have_attribute("data-ready", "1")

    page.select_option("#rp-kind", "quickvite")
    page.click("#rp-apply")
    expect(page).to_have_url(re.compile(r"invite_kind=quickvite"))
    first = page.locator("#rp-table tbody tr").first
    expect(first.locator("td").nth(0)).to_have_text("Attended")
    expect(first.locator("td").nth(1)).to_have_text(str(attended["quickvite"]))
    expect(page.locator("#rp-chart")).to_have_attribute("data-ready", "1")

    # The chart's first slice (Attended) opens the visits behind it.
    box = page.locator("#rp-chart").bounding_box()
    assert box is not None
    point = page.evaluate("() => window.reportingChart.getDatasetMeta(0).data[0].tooltipPosition()")
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    expect(page).to_have_url(re.compile(r"/reporting/visits\?.*outcome=attended"))
    assert "invite_kind=quickvite" in page.url
    expect(page.locator("#rp-total")).to_have_text(f"{attended['quickvite']} in all")
    outcome = page.locator("#rp-visits thead th").all_inner_texts().index("Outcome")
    cells = page.locator(f"#rp-visits tbody tr td:nth-child({outcome + 1})").all_inner_texts()
    assert cells and set(cells) == {"Attended"}

    with page.expect_download() as download:
        page.click("#rp-visits-csv")
    path = download.value.path()
    with open(path, newline="") as exported:
        rows = list(csv.reader(exported))
    assert rows[0] == [
        h.strip(" ▲▼") for h in page.locator("#rp-visits thead th").all_inner_texts()
    ]
    assert len(rows) - 1 == attended["quickvite"]
    assert {row[outcome] for row in rows[1:]} == {"Attended"}
    assert {row[rows[0].index("Invite type")] for row in rows[1:]} == {"QuickVite"}
