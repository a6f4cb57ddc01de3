"""Intake, end to end on the host's installed pytest fixtures (no conftest)."""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from typing import Any

from core.api import emit_domain_event, is_plugin_enabled
from core.testing import csrf_token_from, login
from core.testing.plugin import prepare_plugin
from flask import Flask
from flask.testing import FlaskClient

ARRIVED = {  # patient.arrived as the host's event catalogue declares it
    "entry_id": 501,
    "status": "waiting",
    "invite_id": None,
    "invite_kind": "external",
    "client_id": None,
    "provider_id": None,
    "arrived_at": "2026-12-01T10:00:00Z",
    "admitted_at": None,
    "ended_at": None,
    "waited_seconds": None,
    "copay_status": "not_required",
    "copay_cents": None,
}


def arrive(app: Flask, entry_id: int) -> None:
    with app.app_context():
        emit_domain_event("patient.arrived", {**ARRIVED, "entry_id": entry_id}, source="test")


def form_id_of(app: Flask, entry_id: int) -> int | None:
    from core.api import db_session
    from sqlalchemy import select

    from intake.models import IntakeForm

    with app.app_context():
        found = db_session().scalar(select(IntakeForm.id).where(IntakeForm.entry_id == entry_id))
        db_session().remove()
    return found


def heard(sio: Any, name: str) -> list[dict[str, Any]]:
    return [m["args"][0] for m in sio.get_received("/staff") if m["name"] == name]


def test_the_menu_section_lists_questionnaires(admin_client: FlaskClient) -> None:
    page = admin_client.get("/intake/forms/list/")
    assert page.status_code == 200, page.text[:300]
    assert 'data-section="Intake"' in page.text and 'data-menu="Questionnaires"' in page.text
    assert "/plugin-static/intake/intake/intake.js" in page.text


def test_an_arrival_opens_a_questionnaire_that_staff_answer(
    plugin_app: Flask, staff_client: FlaskClient, staff_socket: Callable[..., Any]
) -> None:
    sio = staff_socket(staff_client)
    arrive(plugin_app, 501)
    arrive(plugin_app, 501)  # delivered twice: still one questionnaire
    form_id = form_id_of(plugin_app, 501)
    assert form_id is not None
    requested = heard(sio, "intake.requested")
    assert requested == [{"form_id": form_id, "entry_id": 501, "client_id": None}]
    snapshot = sio.emit("intake.pending", {}, namespace="/staff", callback=True)
    assert snapshot["ok"] and [f["form_id"] for f in snapshot["data"]] == [form_id]

    page = staff_client.get(f"/intake/answer/{form_id}")
    assert page.status_code == 200 and "Have your medications changed?" in page.text
    token = csrf_token_from(page.text)
    short = staff_client.post(
        f"/intake/answer/{form_id}", data={"answer": ["Fine"], "csrf_token": token}
    )
    assert short.status_code == 409  # three questions, one answer
    saved = staff_client.post(
        f"/intake/answer/{form_id}",
        data={"answer": ["Better", "", "Sleeping badly"], "csrf_token": token},
    )
    assert saved.status_code == 302, saved.text[:300]
    done = heard(sio, "intake.completed")
    assert [(d["form_id"], d["answered"]) for d in done] == [(form_id, 2)]
    shown = staff_client.get(f"/intake/answer/{form_id}").text
    assert "Sleeping badly" in shown and 'id="intake-done"' in shown
    again = staff_client.post(
        f"/intake/answer/{form_id}", data={"answer": ["a", "b", "c"], "csrf_token": token}
    )
    assert again.status_code == 409


def test_the_settings_choose_the_questions_and_whether_arrivals_open_one(
    make_app: Callable[..., Flask], plugin_under_test: str
) -> None:
    app = make_app(INTAKE_QUESTIONS="Any allergies?\nWho referred you?", INTAKE_ON_ARRIVAL=True)
    prepare_plugin(app, plugin_under_test)
    arrive(app, 601)
    client = app.test_client()
    login(client, "frontdesk")
    page = client.get(f"/intake/answer/{form_id_of(app, 601)}").text
    assert "Any allergies?" in page and "Who referred you?" in page
    assert "medications" not in page

    quiet = make_app(INTAKE_ON_ARRIVAL=False)
    prepare_plugin(quiet, plugin_under_test)
    arrive(quiet, 602)
    assert form_id_of(quiet, 602) is None


def test_switched_off_at_runtime_it_is_gone_and_hears_nothing(
    plugin_app: Flask, admin_client: FlaskClient
) -> None:
    token = csrf_token_from(admin_client.get("/admin/plugins/").text)
    off = admin_client.post(
        "/admin/plugins/intake/switch", data={"enabled": "0", "csrf_token": token}
    )
    assert off.status_code == 302
    with plugin_app.app_context():
        assert not is_plugin_enabled("intake")
    assert admin_client.get("/intake/forms/list/").status_code == 404
    assert 'data-section="Intake"' not in admin_client.get("/").text
    arrive(plugin_app, 701)
    assert form_id_of(plugin_app, 701) is None


def test_the_help_article_ships_and_is_in_the_help_center(staff_client: FlaskClient) -> None:
    article = importlib.resources.files("intake").joinpath("help", "intake.md").read_text()
    assert article.startswith("---\ntitle: Intake questionnaires\n")  # the Help Center's header
    page = staff_client.get("/help/articles/intake/intake")
    assert page.status_code == 200, page.text[:300]
    assert "Intake questionnaires" in page.text and "Settings → Intake" in page.text


def test_the_report_column_answers_a_page_of_visits_in_one_go(
    plugin_app: Flask, staff_client: FlaskClient
) -> None:
    from intake.service import answered_column

    arrive(plugin_app, 801)
    arrive(plugin_app, 802)
    form_id = form_id_of(plugin_app, 801)
    page = staff_client.get(f"/intake/answer/{form_id}")
    staff_client.post(
        f"/intake/answer/{form_id}",
        data={"answer": ["a", "b", "c"], "csrf_token": csrf_token_from(page.text)},
    )
    visits = [{"id": 1, "entry_id": 801}, {"id": 2, "entry_id": 802}, {"id": 3, "entry_id": None}]
    with plugin_app.app_context():
        assert answered_column(visits) == {1: "yes", 2: "no", 3: "no"}
        # Reporting asks every enabled plugin for its columns: this one is among them.
        from core.api import hook_results

        columns = dict(hook_results("backoffice_report_columns"))["intake"]
        assert [(c.name, c.label, c.values) for c in columns] == [
            ("intake_answered", "Intake answered", answered_column)
        ]
