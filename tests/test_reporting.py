"""Reporting: visit records from domain events, each figure against values worked out by
hand on a small set, CSV equal to the table, who sees whose rows, the backfill.

The set (practice in America/New_York, EST = UTC-5 in November), all times UTC:

====  ==========  =========  =====================================================
visit kind        provider   story
====  ==========  =========  =====================================================
101   quickvite   c1         arrives 14:00 (09:00 local), admitted 14:10, sent back
                             14:20, admitted again 14:30; session 14:10-14:50; copay
                             $25 collected by card
102   appointment c1 -> c2   arrives 15:00, transferred 15:05, admitted 15:20;
                             session 15:20-15:50; copay $30 due
103   external    anyone     arrives 16:00, leaves 16:15 unseen
104   appointment c1         arrives 04:30 on the 11th = 23:30 on the 10th local,
                             admitted 04:40; session 04:40-05:20 (local 23:40-00:20,
                             across midnight); copay $20 collected in cash
105   quickvite   c2         arrives 17:00, marked a no-show
106   guest       c1         arrives 18:00, removed by staff (cancelled)
107   quickvite   c1         arrives 14:00 on the 12th (Thursday), admitted 14:30;
                             session 14:30-15:00
====  ==========  =========  =====================================================
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.api import emit_domain_event
from core.database import db
from plugins.reporting.models import Visit
from tests.conftest import login

ZONE = "America/New_York"
RANGE = "date_from=2026-11-10&date_to=2026-11-12"
#: Casey Morgan's (clinician1's) attendance: 101, 104, 107 attended, 106 cancelled.
CASEYS = [
    ["Attended", "3", "75.0"],
    ["No-show", "0", "0.0"],
    ["Left before seen", "0", "0.0"],
    ["Cancelled", "1", "25.0"],
]


class Table(HTMLParser):
    """The cells of the table with the given id, row by row (header row first)."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.depth = table_id, False, 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip().rstrip("▲▼").strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    parser = Table(table_id)
    parser.feed(html)
    return parser.rows


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def rapp(make_app: Callable[..., Flask]) -> Flask:
    return make_app(PRACTICE_TIMEZONE=ZONE)


def user_id(app: Flask, username: str) -> int:
    with app.app_context():
        return int(app.extensions["appbuilder"].sm.find_user(username=username).id)


def staff(app: Flask, username: str) -> FlaskClient:
    http = app.test_client()
    login(http, username)
    return http


def entry(
    entry_id: int, kind: str, provider: int | None, arrived: str, **extra: Any
) -> dict[str, Any]:
    """What the waiting room's events carry (``room.domain_payload``)."""
    return {
        "entry_id": entry_id,
        "status": "waiting",
        "invite_id": None,
        "invite_kind": kind,
        "client_id": None,
        "provider_id": provider,
        "arrived_at": arrived,
        "admitted_at": None,
        "ended_at": None,
        "waited_seconds": None,
        "copay_status": "not_required",
        "copay_cents": None,
        "at": arrived,
        **extra,
    }


def session(
    session_id: int, entry_id: int, provider: int, start: str, end: str, seconds: int
) -> list[tuple[str, dict[str, Any]]]:
    base = {
        "session_id": session_id,
        "reference": f"waiting_room:{entry_id}",
        "entry_id": entry_id,
        "waiting_entry_id": entry_id,
        "provider_id": provider,
        "clinician_id": provider,
        "client_id": None,
        "started_at": start,
    }
    return [
        ("session.started", {**base, "status": "live", "ended_at": None, "at": start}),
        (
            "session.ended",
            {**base, "status": "ended", "ended_at": end, "duration_seconds": seconds, "at": end},
        ),
    ]


def the_set(c1: int, c2: int) -> list[tuple[str, dict[str, Any]]]:
    d = "2026-11-10T"
    e: list[tuple[str, dict[str, Any]]] = []
    # 101: sent back and admitted again
    a = d + "14:00:00"
    e.append(
        ("patient.arrived", entry(101, "quickvite", c1, a, copay_status="due", copay_cents=2500))
    )
    e.append(
        (
            "patient.admitted",
            entry(
                101,
                "quickvite",
                c1,
                a,
                admitted_at=d + "14:10:00",
                waited_seconds=600,
                copay_status="due",
                copay_cents=2500,
                at=d + "14:10:00",
            ),
        )
    )
    e += session(1, 101, c1, d + "14:10:00", d + "14:50:00", 2400)[:1]
    e.append(
        (
            "patient.sent_back",
            entry(
                101,
                "quickvite",
                c1,
                a,
                waited_seconds=600,
                copay_status="due",
                copay_cents=2500,
                at=d + "14:20:00",
            ),
        )
    )
    e.append(
        (
            "patient.admitted",
            entry(
                101,
                "quickvite",
                c1,
                a,
                admitted_at=d + "14:30:00",
                waited_seconds=600,
                copay_status="due",
                copay_cents=2500,
                at=d + "14:30:00",
            ),
        )
    )
    e.append(
        (
            "patient.copay_updated",
            entry(
                101,
                "quickvite",
                c1,
                a,
                copay_status="collected",
                copay_cents=2500,
                method="card",
                at=d + "14:35:00",
            ),
        )
    )
    e += session(1, 101, c1, d + "14:10:00", d + "14:50:00", 2400)[1:]
    e.append(
        (
            "patient.completed",
            entry(
                101,
                "quickvite",
                c1,
                a,
                copay_status="collected",
                copay_cents=2500,
                ended_at=d + "14:50:00",
            ),
        )
    )
    # 102: transferred, then admitted by the new provider
    a = d + "15:00:00"
    due = {"copay_status": "due", "copay_cents": 3000}
    e.append(("patient.arrived", entry(102, "appointment", c1, a, **due)))
    e.append(
        (
            "patient.transferred",
            entry(
                102,
                "appointment",
                c2,
                a,
                from_provider_id=c1,
                to_provider_id=c2,
                at=d + "15:05:00",
                **due,
            ),
        )
    )
    e.append(
        (
            "patient.admitted",
            entry(
                102,
                "appointment",
                c2,
                a,
                admitted_at=d + "15:20:00",
                waited_seconds=1200,
                at=d + "15:20:00",
                **due,
            ),
        )
    )
    e += session(2, 102, c2, d + "15:20:00", d + "15:50:00", 1800)
    # 103: left before being seen
    a = d + "16:00:00"
    e.append(("patient.arrived", entry(103, "external", None, a)))
    e.append(
        (
            "patient.left",
            entry(
                103,
                "external",
                None,
                a,
                ended_at=d + "16:15:00",
                waited_seconds=900,
                reason="patient_left",
            ),
        )
    )
    # 104: late in the evening, local time; the session crosses midnight
    a = "2026-11-11T04:30:00"
    paid = {"copay_status": "collected", "copay_cents": 2000}
    e.append(("patient.arrived", entry(104, "appointment", c1, a)))
    e.append(
        (
            "patient.admitted",
            entry(
                104,
                "appointment",
                c1,
                a,
                admitted_at="2026-11-11T04:40:00",
                waited_seconds=600,
                at="2026-11-11T04:40:00",
            ),
        )
    )
    e.append(
        (
            "patient.copay_updated",
            entry(104, "appointment", c1, a, method="cash", at="2026-11-11T04:41:00", **paid),
        )
    )
    e += session(4, 104, c1, "2026-11-11T04:40:00", "2026-11-11T05:20:00", 2400)
    # 105: no-show; 106: cancelled by staff
    a = d + "17:00:00"
    e.append(("patient.arrived", entry(105, "quickvite", c2, a)))
    e.append(
        ("patient.removed", entry(105, "quickvite", c2, a, reason="no_show", at=d + "17:30:00"))
    )
    a = d + "18:00:00"
    e.append(("patient.arrived", entry(106, "guest", c1, a)))
    e.append(("patient.removed", entry(106, "guest", c1, a, reason="removed", at=d + "18:05:00")))
    # 107: Thursday
    a = "2026-11-12T14:00:00"
    e.append(("patient.arrived", entry(107, "quickvite", c1, a)))
    e.append(
        (
            "patient.admitted",
            entry(
                107,
                "quickvite",
                c1,
                a,
                admitted_at="2026-11-12T14:30:00",
                waited_seconds=1800,
                at="2026-11-12T14:30:00",
            ),
        )
    )
    e += session(7, 107, c1, "2026-11-12T14:30:00", "2026-11-12T15:00:00", 1800)
    return e


@pytest.fixture
def seeded(rapp: Flask) -> dict[str, int]:
    c1, c2 = user_id(rapp, "clinician1"), user_id(rapp, "clinician2")
    with rapp.test_request_context():
        for name, payload in the_set(c1, c2):
            emit_domain_event(
                name, payload, source="waiting_room" if name.startswith("patient") else "video"
            )
    return {"c1": c1, "c2": c2}


def visit_rows(html: str) -> list[list[str]]:
    """The drill-down's rows, without its header (and none for "No visits.")."""
    return [row for row in table(html, "rp-visits")[1:] if len(row) > 1]


def figure(http: FlaskClient, report: str, query: str = RANGE) -> list[list[str]]:
    page = http.get(f"/reporting/report/{report}?{query}")
    assert page.status_code == 200, page.text[:500]
    rows = table(page.text, "rp-table")
    return [row[:-1] for row in rows]  # the last column holds the drill-down link


# --- the visit records ---------------------------------------------------------------------


def test_each_visit_is_one_record_built_from_the_events(
    rapp: Flask, seeded: dict[str, int]
) -> None:
    with rapp.app_context():
        visits = {v.entry_id: v for v in db.session.scalars(select(Visit))}
    assert set(visits) == {101, 102, 103, 104, 105, 106, 107}
    v101 = visits[101]
    assert (v101.admissions, v101.sent_back, v101.waited_seconds) == (2, 1, 600)
    assert (v101.outcome, v101.copay_status, v101.copay_method) == ("attended", "collected", "card")
    assert (visits[102].provider_id, visits[102].transfers) == (seeded["c2"], 1)
    assert visits[103].outcome == "left_before_seen" and visits[103].waited_seconds is None
    v104 = visits[104]
    assert (v104.local_date.isoformat(), v104.local_hour, v104.local_weekday) == (
        "2026-11-10",
        23,
        1,
    )
    assert (visits[105].outcome, visits[106].outcome) == ("no_show", "cancelled")


# --- each figure, worked out by hand --------------------------------------------------------


def test_attendance(rapp: Flask, seeded: dict[str, int]) -> None:
    rows = figure(staff(rapp, "practiceadmin"), "attendance")
    assert rows == [
        ["Outcome", "Visits", "Share (%)"],
        ["Attended", "4", "57.1"],
        ["No-show", "1", "14.3"],
        ["Left before seen", "1", "14.3"],
        ["Cancelled", "1", "14.3"],
    ]


def test_session_duration_counts_the_midnight_session_on_its_local_day(
    rapp: Flask, seeded: dict[str, int]
) -> None:
    http = staff(rapp, "practiceadmin")
    assert figure(http, "session_duration") == [
        ["Date", "Sessions", "Total (min)", "Average (min)", "Longest (min)"],
        ["2026-11-10", "3", "110.0", "36.7", "40.0"],
        ["2026-11-12", "1", "30.0", "30.0", "30.0"],
    ]
    # Its drill-down lists the sessions with date, start, end and length, in local time.
    page = http.get(f"/reporting/visits?{RANGE}&date=2026-11-10&session=1&sort=arrived")
    rows = table(page.text, "rp-visits")
    header = rows[0]
    start, end, length = (header.index(c) for c in ("Session start", "Session end", "Length (min)"))
    assert [(r[start], r[end], r[length]) for r in rows[1:]] == [
        ("2026-11-10 09:10", "2026-11-10 09:50", "40.0"),
        ("2026-11-10 10:20", "2026-11-10 10:50", "30.0"),
        ("2026-11-10 23:40", "2026-11-11 00:20", "40.0"),
    ]


def test_invite_type(rapp: Flask, seeded: dict[str, int]) -> None:
    assert figure(staff(rapp, "practiceadmin"), "invite_type") == [
        ["Invite type", "Visits", "Attended", "Share (%)"],
        ["QuickVite", "3", "2", "42.9"],
        ["Appointment", "2", "2", "28.6"],
        ["External link", "1", "0", "14.3"],
        ["Guest", "1", "0", "14.3"],
    ]


def test_copay(rapp: Flask, seeded: dict[str, int]) -> None:
    assert figure(staff(rapp, "practiceadmin"), "copay") == [
        ["Copay", "Paid by", "Visits", "Amount ($)"],
        ["Not required", "—", "4", "0.00"],
        ["Due, not collected", "—", "1", "30.00"],
        ["Collected", "Card", "1", "25.00"],
        ["Collected", "Cash", "1", "20.00"],
    ]


def test_wait_before_admission(rapp: Flask, seeded: dict[str, int]) -> None:
    # All: 600, 600, 1200, 1800 s. Median (600+1200)/2 = 900 s; 90th percentile by nearest
    # rank: the ceil(0.9 * 4) = 4th = 1800 s. Casey Morgan (c1): 600, 600, 1800.
    assert figure(staff(rapp, "practiceadmin"), "wait") == [
        ["Provider", "Admitted visits", "Median (min)", "90th percentile (min)", "Longest (min)"],
        ["All providers", "4", "15.0", "30.0", "30.0"],
        ["Casey Morgan", "3", "10.0", "30.0", "30.0"],
        ["Jordan Lee", "1", "20.0", "20.0", "20.0"],
    ]


def test_left_before_seen_by_hour_and_weekday(rapp: Flask, seeded: dict[str, int]) -> None:
    http = staff(rapp, "practiceadmin")
    assert figure(http, "left_by_hour") == [
        ["Hour", "Ended visits", "Left before seen", "Rate (%)"],
        ["09:00", "2", "0", "0.0"],
        ["10:00", "1", "0", "0.0"],
        ["11:00", "1", "1", "100.0"],
        ["12:00", "1", "0", "0.0"],
        ["13:00", "1", "0", "0.0"],
        ["23:00", "1", "0", "0.0"],
    ]
    assert figure(http, "left_by_weekday") == [
        ["Weekday", "Ended visits", "Left before seen", "Rate (%)"],
        ["Tuesday", "6", "1", "16.7"],
        ["Thursday", "1", "0", "0.0"],
    ]


def test_filters_by_provider_invite_kind_and_local_dates(
    rapp: Flask, seeded: dict[str, int]
) -> None:
    http = staff(rapp, "practiceadmin")
    mine = figure(http, "attendance", f"{RANGE}&provider_id={seeded['c1']}")
    assert mine[1:] == CASEYS
    quick = figure(http, "attendance", f"{RANGE}&invite_kind=quickvite")
    assert [r[:2] for r in quick[1:]] == [
        ["Attended", "2"],
        ["No-show", "1"],
        ["Left before seen", "0"],
        ["Cancelled", "0"],
    ]
    # 104 arrived on the 11th in UTC but the 10th in New York: the 11th alone has nothing.
    alone = figure(http, "attendance", "date_from=2026-11-11&date_to=2026-11-11")
    assert [r[1] for r in alone[1:]] == ["0", "0", "0", "0"]


# --- CSV, drill-downs, sorting and paging ----------------------------------------------------


@pytest.mark.parametrize(
    "report",
    [
        "attendance",
        "session_duration",
        "invite_type",
        "copay",
        "wait",
        "left_by_hour",
        "left_by_weekday",
    ],
)
def test_the_csv_holds_exactly_the_rows_of_the_table(
    rapp: Flask, seeded: dict[str, int], report: str
) -> None:
    http = staff(rapp, "practiceadmin")
    exported = http.get(f"/reporting/report/{report}/csv?{RANGE}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert csv_rows(exported.text) == figure(http, report)


def test_every_row_drills_down_to_the_visits_it_counts(rapp: Flask, seeded: dict[str, int]) -> None:
    http = staff(rapp, "practiceadmin")
    for report in ("attendance", "invite_type", "copay", "left_by_hour", "left_by_weekday", "wait"):
        page = http.get(f"/reporting/report/{report}?{RANGE}").text
        rows = table(page, "rp-table")
        header = rows[0]
        count_column = next(
            i
            for i, name in enumerate(header)
            if name in ("Visits", "Admitted visits", "Left before seen")
        )
        links = [
            link.replace("&amp;", "&")
            for link in __import__("re").findall(r'class="rp-drill" href="([^"]+)"', page)
        ]
        assert len(links) == len(rows) - 1, report
        for row, link in zip(rows[1:], links, strict=True):
            visits = http.get(link)
            assert visits.status_code == 200, visits.text[:300]
            listed = visit_rows(visits.text)
            assert len(listed) == int(row[count_column]), (report, row, link)
            exported = csv_rows(
                http.get(link.replace("/reporting/visits?", "/reporting/visits/csv?")).text
            )
            assert exported == table(visits.text, "rp-visits")[:1] + listed, (report, row)


def test_visits_sort_and_page(rapp: Flask, seeded: dict[str, int]) -> None:
    http = staff(rapp, "practiceadmin")
    page = http.get(f"/reporting/visits?{RANGE}&admitted=1&sort=waited&dir=desc&size=2")
    rows = table(page.text, "rp-visits")
    waited = rows[0].index("Waited (min)")
    assert [r[waited] for r in rows[1:]] == ["30.0", "20.0"]
    second = http.get(f"/reporting/visits?{RANGE}&admitted=1&sort=waited&dir=desc&size=2&page=2")
    assert [r[waited] for r in table(second.text, "rp-visits")[1:]] == ["10.0", "10.0"]
    assert "Page 2 of 2" in second.text
    sorted_table = figure(http, "invite_type", f"{RANGE}&sort=visits&dir=asc")
    assert [r[1] for r in sorted_table[1:]] == ["1", "1", "2", "3"]


@pytest.mark.parametrize(
    "query",
    [
        "date_from=yesterday",
        "date_from=2026-11-12&date_to=2026-11-10",
        "date_from=2020-01-01&date_to=2026-01-01",
        "provider_id=abc",
        "invite_kind=carrier-pigeon",
        "sort=nonsense",
        "dir=sideways",
        "page=0",
        "page=99",
    ],
)
def test_bad_filters_are_a_400_with_a_message(
    rapp: Flask, seeded: dict[str, int], query: str
) -> None:
    http = staff(rapp, "practiceadmin")
    for path in (
        "/reporting/report/attendance",
        "/reporting/visits",
        "/reporting/report/attendance/csv",
    ):
        asked = urlencode({**dict(parse_qsl(RANGE)), **dict(parse_qsl(query))})
        response = http.get(f"{path}?{asked}")
        if "page" in query and path.endswith("csv"):
            continue  # a CSV has no pages
        assert response.status_code == 400, (path, query)
        assert "Traceback" not in response.text and len(response.text) > 10
    assert http.get("/reporting/visits?outcome=lost&" + RANGE).status_code == 400
    assert http.get("/reporting/report/nonexistent").status_code == 404


# --- who sees whose rows --------------------------------------------------------------------


def test_a_clinician_sees_only_their_own_visits(rapp: Flask, seeded: dict[str, int]) -> None:
    http = staff(rapp, "clinician1")
    assert figure(http, "attendance")[1:] == CASEYS
    assert (
        http.get(f"/reporting/report/attendance?{RANGE}&provider_id={seeded['c2']}").status_code
        == 403
    )
    assert http.get(f"/reporting/visits?{RANGE}&provider_id={seeded['c2']}").status_code == 403
    assert http.get(f"/reporting/visits/csv?{RANGE}&provider_id={seeded['c2']}").status_code == 403
    visits = table(http.get(f"/reporting/visits?{RANGE}").text, "rp-visits")
    provider = visits[0].index("Provider")
    assert {r[provider] for r in visits[1:]} == {"Casey Morgan"}
    exported = csv_rows(http.get(f"/reporting/visits/csv?{RANGE}").text)
    assert len(exported) == 5 and {r[provider] for r in exported[1:]} == {"Casey Morgan"}
    # Front-desk staff hold no report at all.
    assert staff(rapp, "frontdesk").get(f"/reporting/report/attendance?{RANGE}").status_code in {
        302,
        403,
    }


def test_a_role_granted_view_all_sees_every_provider(rapp: Flask, seeded: dict[str, int]) -> None:
    with rapp.app_context():
        sm = rapp.extensions["appbuilder"].sm
        role = sm.find_role("Clinician")
        sm.add_permission_role(role, sm.find_permission_view_menu("can_view_all", "Reports"))
    http = staff(rapp, "clinician1")
    assert figure(http, "attendance")[1][:2] == ["Attended", "4"]
    assert http.get(f"/reporting/visits?{RANGE}&provider_id={seeded['c2']}").status_code == 200


# --- the real waiting room and the backfill --------------------------------------------------


def test_the_waiting_room_and_video_events_make_the_record_and_the_backfill_rebuilds_it(
    rapp: Flask,
) -> None:
    from plugins.reporting.cli import reporting
    from plugins.waiting_room import room

    c1, c2 = user_id(rapp, "clinician1"), user_id(rapp, "clinician2")
    with rapp.test_request_context():
        arrival = room.join(invite=None, name="Rae Walker", code="demo-practice", provider_id=c1)
        entry_id = arrival.entry.id
        first = room.Actor(c1, "Casey Morgan")
        room.admit(entry_id, first)
        room.send_back(entry_id, first)
        room.transfer(entry_id, c2, first, None)
        room.admit(entry_id, room.Actor(c2, "Jordan Lee"))
        room.mark_copay(entry_id, "collected", 3500, first, method="check")
        left = room.join(invite=None, name="Gone Early", code="demo-practice", provider_id=c1)
        room.patient_leave(left.entry)
        live = db.session.scalars(select(Visit).order_by(Visit.id)).all()
        record = {v.entry_id: v for v in live}[entry_id]
        assert (record.admissions, record.sent_back, record.transfers) == (2, 1, 1)
        assert (record.provider_id, record.copay_method, record.copay_cents) == (c2, "check", 3500)
        assert record.outcome == "attended"
        assert {v.entry_id: v for v in live}[left.entry.id].outcome == "left_before_seen"
        before = {
            v.entry_id: (v.outcome, v.provider_id, v.waited_seconds, v.local_date) for v in live
        }

    runner = rapp.test_cli_runner()
    result = runner.invoke(reporting, ["backfill", "--rebuild"])
    assert result.exit_code == 0, result.output
    with rapp.app_context():
        rebuilt = {
            v.entry_id: (v.outcome, v.provider_id, v.waited_seconds, v.local_date)
            for v in db.session.scalars(select(Visit))
        }
    # The demo's waiting patients, never announced, are now visits too.
    assert {k: rebuilt[k] for k in before} == before
    assert len(rebuilt) > len(before)
    again = runner.invoke(reporting, ["backfill"])
    assert "Added 0 visit record(s)." in again.output
    with rapp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Visit)) == len(rebuilt)


def test_the_plugins_declare_every_event_reporting_relies_on(rapp: Flask) -> None:
    from core.api import hook_results
    from plugins.reporting.service import RELIED_ON

    with rapp.app_context():
        declared = {
            spec.name for _p, specs in hook_results("backoffice_declared_events") for spec in specs
        }
    assert declared >= RELIED_ON, RELIED_ON - declared


# --- a partner's report and column ------------------------------------------------------------


def test_a_partner_plugin_adds_a_whole_report_and_a_column(
    partner_plugins: Any, rapp: Flask, seeded: dict[str, int]
) -> None:
    import bo_partner_hello

    http = staff(rapp, "practiceadmin")
    assert "Partner figure" in http.get(f"/reporting/?{RANGE}").text
    assert figure(http, "partner_hello") == [["What", "Days", "Provider"], ["Days asked", "3", "0"]]
    exported = csv_rows(http.get(f"/reporting/report/partner_hello/csv?{RANGE}").text)
    assert exported == figure(http, "partner_hello")
    # A clinician's filters reach the partner already narrowed to their own visits.
    own = figure(staff(rapp, "clinician1"), "partner_hello")
    assert own[1] == ["Days asked", "3", str(seeded["c1"])]

    bo_partner_hello.COLUMN_CALLS.clear()
    visits = table(http.get(f"/reporting/visits?{RANGE}&outcome=attended&size=3").text, "rp-visits")
    flag = visits[0].index("Partner flag")
    assert [r[flag] for r in visits[1:]] == ["entry 101", "entry 102", "entry 104"]
    assert len(bo_partner_hello.COLUMN_CALLS) == 1  # one call for the page, not one per row
    exported = csv_rows(http.get(f"/reporting/visits/csv?{RANGE}&outcome=attended").text)
    assert exported[0][-1] == "Partner flag" and exported[-1][-1] == "entry 107"


def test_an_invite_sent_and_a_consent_reach_the_visit(rapp: Flask) -> None:
    c1 = user_id(rapp, "clinician1")
    arrived = "2026-11-10T14:00:00"
    with rapp.test_request_context():
        link = {"client_id": 1, "reference": "appointment:3", "invite_id": 55, "status": "sent"}
        emit_domain_event(
            "consent.session_link_sent", {**link, "channel": "sms", "link_id": 9}, source="consent"
        )
        emit_domain_event(
            "patient.arrived",
            entry(201, "appointment", c1, arrived, invite_id=55, client_id=1),
            source="waiting_room",
        )
        emit_domain_event(
            "consent.recorded",
            {"client_id": 1, "consent_id": 4, "reference": None, "kind": "verbal"},
            source="consent",
        )
        visit = db.session.scalar(select(Visit).where(Visit.entry_id == 201))
        assert visit is not None
        assert (visit.invite_channel, visit.consent_status) == ("sms", "recorded")
        assert visit.invite_sent_at is not None


def test_relocalise_follows_a_new_time_zone(rapp: Flask, seeded: dict[str, int]) -> None:
    from plugins.reporting.cli import reporting

    rapp.config["PRACTICE_TIMEZONE"] = "UTC"
    result = rapp.test_cli_runner().invoke(reporting, ["relocalise"])
    assert "Recomputed 7 visit record(s)." in result.output
    with rapp.app_context():
        late = db.session.scalar(select(Visit).where(Visit.entry_id == 104))
        assert late is not None and (late.local_date.isoformat(), late.local_hour) == (
            "2026-11-11",
            4,
        )


# --- calendar cancellations and QuickVites, through the plugins' own routes -----------------


@pytest.fixture
def desk(make_app: Callable[..., Flask]) -> Flask:
    from tests.test_waiting_room import QUIET

    return make_app(PRACTICE_TIMEZONE=ZONE, WTF_CSRF_ENABLED=False, **QUIET)


def booking(app: Flask, **overrides: str) -> dict[str, str]:
    """The calendar's Session Details form: Brooke with Casey Morgan (clinician1) at 09:00
    New York time on Tuesday the 10th (14:00 UTC)."""
    from core.api import Client

    with app.app_context():
        brooke = db.session.scalar(select(Client.id).where(Client.first_name == "Brooke"))
    return {
        "client_id": str(brooke),
        "clinician_id": str(user_id(app, "clinician1")),
        "start": "2026-11-10T09:00",
        "end": "2026-11-10T09:50",
        "contact_type": "Telehealth",
        "status": "Scheduled",
        "notes": "",
        "recurrence": "none",
        **overrides,
    }


def book(http: FlaskClient, form: dict[str, str]) -> int:
    created = http.post(
        "/calendar/appointments/", data=form, headers={"Accept": "application/json"}
    )
    assert created.status_code == 201, created.text
    return int(created.get_json()["extendedProps"]["appointment_id"])


def save(http: FlaskClient, pk: int, form: dict[str, str]) -> None:
    saved = http.post(f"/calendar/appointments/{pk}", data=form)
    assert saved.status_code == 303, saved.text[:500]


def appointment_visits(app: Flask) -> list[Visit]:
    with app.app_context():
        found = list(
            db.session.scalars(
                select(Visit).where(Visit.appointment_id.is_not(None)).order_by(Visit.id)
            )
        )
        db.session.expunge_all()
        return found


def cancelled_count(http: FlaskClient, query: str = RANGE) -> str:
    rows = {row[0]: row[1] for row in figure(http, "attendance", query)[1:]}
    return rows["Cancelled"]


def test_a_calendar_cancellation_is_one_cancelled_visit_until_it_is_undone(desk: Flask) -> None:
    clinician, admin = staff(desk, "clinician1"), staff(desk, "practiceadmin")
    c1, c2 = user_id(desk, "clinician1"), user_id(desk, "clinician2")
    pk = book(clinician, booking(desk))
    assert appointment_visits(desk) == [] and cancelled_count(admin) == "0"

    save(clinician, pk, booking(desk, status="Cancelled"))
    (visit,) = appointment_visits(desk)
    assert (visit.appointment_id, visit.outcome, visit.invite_kind) == (
        pk,
        "cancelled",
        "appointment",
    )
    assert (visit.provider_id, visit.arrived_at.isoformat()) == (c1, "2026-11-10T14:00:00")
    assert (visit.local_date.isoformat(), visit.local_hour) == ("2026-11-10", 9)
    assert visit.entry_id is None and visit.client_id is not None

    table_rows = figure(admin, "attendance")
    assert table_rows[1:] == [
        ["Attended", "0", "0.0"],
        ["No-show", "0", "0.0"],
        ["Left before seen", "0", "0.0"],
        ["Cancelled", "1", "100.0"],
    ]
    exported = admin.get(f"/reporting/report/attendance/csv?{RANGE}")
    assert csv_rows(exported.text) == table_rows
    # Never in the waiting room: not a visit its patient could have left unseen.
    assert [row for row in figure(admin, "left_by_hour")[1:] if row] == []
    mine = f"{RANGE}&provider_id={c1}&invite_kind=appointment"
    assert cancelled_count(admin, mine) == "1"
    assert csv_rows(admin.get(f"/reporting/report/attendance/csv?{mine}").text)[4] == [
        "Cancelled",
        "1",
        "100.0",
    ]
    assert cancelled_count(admin, f"{RANGE}&provider_id={c2}") == "0"
    assert cancelled_count(admin, f"{RANGE}&invite_kind=quickvite") == "0"
    assert cancelled_count(admin, "date_from=2026-11-11&date_to=2026-11-12") == "0"
    assert cancelled_count(clinician) == "1"  # Casey's own
    listed = table(admin.get(f"/reporting/visits?{RANGE}&outcome=cancelled").text, "rp-visits")
    header, (row,) = listed[0], listed[1:]
    picked = [row[header.index(c)] for c in ("Date", "Arrived", "Provider", "Invite type")]
    assert picked == ["2026-11-10", "09:00", "Casey Morgan", "Appointment"]

    # Saved again while cancelled (a note added): still the one visit.
    save(clinician, pk, booking(desk, status="Cancelled", notes="Called to say sorry"))
    assert [v.appointment_id for v in appointment_visits(desk)] == [pk]
    assert cancelled_count(admin) == "1"

    # Set back to Scheduled, the appointment no longer counts; cancelled again, it does.
    save(clinician, pk, booking(desk, status="Scheduled"))
    assert appointment_visits(desk) == [] and cancelled_count(admin) == "0"
    save(clinician, pk, booking(desk, status="Cancelled"))
    assert [v.appointment_id for v in appointment_visits(desk)] == [pk]
    save(clinician, pk, booking(desk, status="Confirmed"))
    assert appointment_visits(desk) == [] and cancelled_count(admin) == "0"


def test_a_cancelled_occurrence_counts_and_the_backfill_replays_cancellations(
    desk: Flask,
) -> None:
    from plugins.reporting.cli import reporting

    clinician = staff(desk, "clinician1")
    weekly = booking(
        desk,
        start="2026-11-03T09:00",
        end="2026-11-03T09:50",
        recurrence="weekly",
        recurrence_count="4",
    )
    series = book(clinician, weekly)
    # The second occurrence (the 10th, 14:00 UTC) cancelled on its own: a row of its own.
    save(
        clinician,
        series,
        booking(desk, status="Cancelled", scope="occurrence", occurrence="20261110T140000Z"),
    )
    single = book(clinician, booking(desk, start="2026-11-12T15:00", end="2026-11-12T15:50"))
    save(
        clinician,
        single,
        booking(desk, start="2026-11-12T15:00", end="2026-11-12T15:50", status="Cancelled"),
    )

    def story(visits: list[Visit]) -> list[tuple[Any, ...]]:
        return [
            (v.appointment_id, v.outcome, v.provider_id, v.client_id, v.arrived_at, v.local_date)
            for v in visits
        ]

    live = story(appointment_visits(desk))
    assert len(live) == 2 and live[0][0] not in (series, single) and live[1][0] == single
    assert [str(v[5]) for v in live] == ["2026-11-10", "2026-11-12"]
    assert cancelled_count(staff(desk, "practiceadmin")) == "2"

    runner = desk.test_cli_runner()
    assert runner.invoke(reporting, ["backfill", "--rebuild"]).exit_code == 0
    assert story(appointment_visits(desk)) == live
    assert "Added 0 visit record(s)." in runner.invoke(reporting, ["backfill"]).output
    assert len(appointment_visits(desk)) == 2


def test_a_quickvite_sent_by_text_and_email_is_linked_to_its_visit(desk: Flask) -> None:
    from tests.test_settings import check_in

    c1 = user_id(desk, "clinician1")
    sent = staff(desk, "frontdesk").post(
        "/settings/quickvite/send",
        json={
            "name": "Jordan Lee",
            "phone": "(212) 555-0123",
            "email": "jordan@example.org",
            "provider_id": c1,
        },
    )
    assert sent.status_code == 201, sent.text
    body = sent.get_json()
    assert [d["channel"] for d in body["deliveries"]] == ["sms", "email"]

    joined = check_in(desk, "/" + body["url"].split("/", 3)[3], name="Jordan Lee")
    assert joined.status_code == 201, joined.text
    with desk.app_context():
        visit = db.session.scalar(
            select(Visit).where(Visit.entry_id == joined.get_json()["entry_id"])
        )
        assert visit is not None
        assert (visit.invite_kind, visit.invite_id, visit.provider_id) == (
            "quickvite",
            body["invite_id"],
            c1,
        )
        assert visit.invite_channel == "sms+email" and visit.invite_sent_at is not None
