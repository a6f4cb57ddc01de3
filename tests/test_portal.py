"""The Patient Portal: one-time codes (email through a real SMTP server, SMS to the outbox),
signed links, patient sessions, the sections of other plugins, the staff's page, and that no
portal route ever shows or changes another client's data."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from core.api import Client, create_invite, portal_link
from core.database import db
from core.models import AuditEntry, OutboundMessage, PatientInvite
from core.testing.plugin import SmtpCapture
from plugins.calendar.models import Appointment
from plugins.consent.models import ConsentRecord, ConsentRequest
from plugins.consent.service import current_form
from plugins.portal.models import PortalCode, PortalSession, utcnow
from tests.conftest import free_port, login

SENDER = "Demo Practice <practice@clinic.example.org>"
SIGNATURE = "Alex Rivera"


@pytest.fixture
def inbox(smtp_capture: SmtpCapture) -> tuple[SmtpCapture, int]:
    """The installed ``smtp_capture`` (a real aiosmtpd server) and its port."""
    return smtp_capture, smtp_capture.port


@pytest.fixture
def app(make_app: Callable[..., Flask], inbox: tuple[SmtpCapture, int]) -> Flask:
    return make_app(
        WTF_CSRF_ENABLED=False,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=inbox[1],
        MAIL_DEFAULT_SENDER=SENDER,
        MAIL_SUPPRESS_SEND=False,
    )


def client_named(app: Flask, first_name: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Client.id).where(Client.first_name == first_name))
        assert found is not None
        return int(found)


def last_sms(app: Flask, to: str) -> str:
    with app.app_context():
        body = db.session.scalar(
            sa.select(OutboundMessage.body)
            .where(OutboundMessage.channel == "sms", OutboundMessage.recipient == to)
            .order_by(OutboundMessage.id.desc())
        )
        assert body is not None
        return str(body)


def code_in(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match, text
    return match.group(1)


def ask_code(patient: FlaskClient, address: str) -> Any:
    return patient.post("/portal/sign-in", data={"address": address})


def sign_in_by_sms(app: Flask, first_name: str = "Devon") -> FlaskClient:
    with app.app_context():
        phone = db.session.scalar(sa.select(Client.phone).where(Client.first_name == first_name))
    patient = app.test_client()
    assert ask_code(patient, str(phone)).status_code == 303
    answer = patient.post("/portal/code", data={"code": code_in(last_sms(app, str(phone)))})
    assert answer.status_code == 303, answer.text
    return patient


def actions(app: Flask, prefix: str) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.action.like(prefix + "%"))
                .order_by(AuditEntry.id)
            )
        )


# --- codes ------------------------------------------------------------------------------------


def test_a_code_by_email_signs_the_patient_in(app: Flask, inbox: tuple[SmtpCapture, int]) -> None:
    mail, _port = inbox
    patient = app.test_client()
    assert patient.get("/portal/").headers["Location"].startswith("/portal/sign-in")
    sent = ask_code(patient, "  Alex.Rivera@example.com ")
    assert sent.status_code == 303 and sent.headers["Location"].startswith("/portal/code")
    assert "bo_portal_challenge" in sent.headers.get("Set-Cookie", "")
    (message,) = mail.messages()
    assert message["To"] == "alex.rivera@example.com"
    assert "sign-in code" in str(message["Subject"])
    code = code_in(message.get_content())
    signed = patient.post("/portal/code", data={"code": code})
    assert signed.status_code == 303 and signed.headers["Location"] == "/portal/"
    cookie = signed.headers.getlist("Set-Cookie")
    assert any(c.startswith("bo_portal=") and "HttpOnly" in c for c in cookie)
    home = patient.get("/portal/")
    assert home.status_code == 200
    assert "Hello Alex" in home.text
    for title in ("Appointments", "Consent forms", "Past visits"):
        assert title in home.text
    assert actions(app, "portal.") == ["portal.code_sent", "portal.signed_in"]
    with app.app_context():
        row = db.session.scalar(sa.select(PortalCode))
        assert row is not None and row.code_hash != code and row.used_at is not None


def test_a_code_works_once(app: Flask) -> None:
    patient = app.test_client()
    asked = ask_code(patient, "+15555550103")
    challenge = re.search(r"bo_portal_challenge=([^;]+)", asked.headers["Set-Cookie"])
    assert challenge
    code = code_in(last_sms(app, "+15555550103"))
    signed = patient.post("/portal/code", data={"code": code})
    assert signed.status_code == 303
    assert any(  # the browser forgets the challenge once it is used
        c.startswith("bo_portal_challenge=;") and "Path=/portal/" in c
        for c in signed.headers.getlist("Set-Cookie")
    )
    patient.post("/portal/sign-out")
    assert patient.get("/portal/").status_code == 303  # signed out
    replay = app.test_client()  # someone who saw both the code and the challenge
    replay.set_cookie("bo_portal_challenge", challenge.group(1), path="/portal/")
    again = replay.post("/portal/code", data={"code": code})
    assert again.status_code == 400
    assert "already used" in again.text
    assert replay.get("/portal/").status_code == 303


def test_an_expired_code_is_refused(app: Flask) -> None:
    patient = app.test_client()
    ask_code(patient, "+15555550103")
    code = code_in(last_sms(app, "+15555550103"))
    with app.app_context():
        row = db.session.scalar(sa.select(PortalCode))
        assert row is not None
        assert row.expires_at - row.created_at == dt.timedelta(minutes=10)
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
    refused = patient.post("/portal/code", data={"code": code})
    assert refused.status_code == 400 and "expired" in refused.text
    assert patient.get("/portal/").status_code == 303


def test_wrong_codes_use_up_the_code(app: Flask) -> None:
    patient = app.test_client()
    ask_code(patient, "+15555550103")
    code = code_in(last_sms(app, "+15555550103"))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        answer = patient.post("/portal/code", data={"code": wrong})
        assert answer.status_code == 400 and "not right" in answer.text
        assert f"{left} more" in answer.text
    patient.post("/portal/code", data={"code": wrong})
    late = patient.post("/portal/code", data={"code": code})
    assert late.status_code == 400 and "Too many wrong codes" in late.text
    assert patient.post("/portal/code", data={"code": "12ab"}).status_code == 400


def test_a_new_code_replaces_the_old_one(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    ask_code(first, "+15555550103")
    old = code_in(last_sms(app, "+15555550103"))
    ask_code(second, "+15555550103")
    assert first.post("/portal/code", data={"code": old}).status_code == 400
    new = code_in(last_sms(app, "+15555550103"))
    assert second.post("/portal/code", data={"code": new}).status_code == 303


def test_unknown_addresses_look_the_same_and_send_nothing(
    app: Flask, inbox: tuple[SmtpCapture, int]
) -> None:
    patient = app.test_client()
    sent = ask_code(patient, "nobody@example.org")
    assert sent.status_code == 303 and sent.headers["Location"].startswith("/portal/code")
    assert inbox[0].messages() == []
    assert patient.post("/portal/code", data={"code": "123456"}).status_code == 400
    assert actions(app, "portal.code") == ["portal.code_refused"]
    bad = ask_code(patient, "not an address")
    assert bad.status_code == 400 and "cannot be used" in bad.text


def test_codes_are_rate_limited_per_client_and_per_address(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(
        WTF_CSRF_ENABLED=False,
        RATELIMIT_ENABLED=True,
        RATELIMIT_KEY_PREFIX=f"portal-test-{free_port()}",
        PORTAL_CODE_RATE_LIMIT_CLIENT="2 per 15 minutes",
        PORTAL_CODE_RATE_LIMIT_ADDRESS="4 per 15 minutes",
    )
    one, other = app.test_client(), app.test_client()
    assert ask_code(one, "+15555550103").status_code == 303
    assert ask_code(other, "+15555550103").status_code == 303
    third = ask_code(one, "+15555550103")  # a third code for Devon: too many for one client
    assert third.status_code == 429 and "Several codes" in third.text
    assert ask_code(one, "+15555550101").status_code == 303  # Alex is another client
    # Four requests from 127.0.0.1 so far: the address is at its limit, whoever is asked for.
    fifth = ask_code(one, "+15555550102")
    assert fifth.status_code == 429 and "this connection" in fifth.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PortalCode)) == 3


# --- signed links and sessions ----------------------------------------------------------------


def test_a_signed_link_signs_in_until_staff_revoke_access(app: Flask) -> None:
    alex = client_named(app, "Alex")
    with app.test_request_context():
        link = portal_link(alex, "/portal/forms")
    assert link is not None and "/portal/link/" in link
    patient = app.test_client()
    opened = patient.get(link.split("localhost", 1)[1])
    assert opened.status_code == 303 and opened.headers["Location"] == "/portal/forms"
    assert patient.get("/portal/").status_code == 200

    staff = app.test_client()
    login(staff, "frontdesk")
    assert staff.post(f"/portal-admin/clients/{alex}/revoke").status_code == 303
    assert patient.get("/portal/").status_code == 303  # the session ended
    again = app.test_client().get(link.split("localhost", 1)[1])
    assert again.status_code == 410 and "withdrawn" in again.text
    forged = app.test_client().get("/portal/link/" + "x" * 40)
    assert forged.status_code == 404
    evil = app.test_client()
    with app.test_request_context():
        outside = portal_link(client_named(app, "Brooke"), "https://evil.example.org/")
    assert outside is not None
    assert evil.get(outside.split("localhost", 1)[1]).headers["Location"] == "/portal/"


def test_sessions_end_when_idle_and_are_not_staff_logins(app: Flask) -> None:
    patient = sign_in_by_sms(app)
    assert patient.get("/portal/").status_code == 200
    assert patient.get("/portal-admin/").status_code in {302, 303}  # no staff access
    with app.app_context():
        row = db.session.scalar(sa.select(PortalSession))
        assert row is not None
        row.last_seen_at = utcnow() - dt.timedelta(minutes=16)
        db.session.commit()
    assert patient.get("/portal/").headers["Location"].startswith("/portal/sign-in")


def test_the_portal_is_gone_while_its_plugin_is_off(app: Flask) -> None:
    patient = sign_in_by_sms(app)
    from core.app import set_plugin_enabled

    with app.app_context():
        set_plugin_enabled("portal", False, actor="test")
    assert patient.get("/portal/").status_code == 404
    assert patient.get("/portal/forms").status_code == 404  # portal_client() is None
    with app.app_context():
        set_plugin_enabled("portal", True, actor="test")
    assert patient.get("/portal/forms").status_code == 200


# --- the sections -----------------------------------------------------------------------------


def telehealth_appointment(app: Flask, first_name: str, starts_in: dt.timedelta) -> int:
    with app.app_context():
        sm = app.extensions["appbuilder"].sm
        start = utcnow().replace(microsecond=0) + starts_in
        row = Appointment(
            client_id=client_named(app, first_name),
            clinician_id=sm.find_user(username="clinician1").id,
            start_at=start,
            end_at=start + dt.timedelta(minutes=50),
            contact_type="Telehealth",
            status="Confirmed",
        )
        db.session.add(row)
        db.session.commit()
        return int(row.id)


def consent_request(app: Flask, first_name: str) -> int:
    with app.app_context(), app.test_request_context():
        client_id = client_named(app, first_name)
        clinician = app.extensions["appbuilder"].sm.find_user(username="clinician1")
        issued = create_invite("portal", source="consent", client_id=client_id, commit=False)
        row = ConsentRequest(
            client_id=client_id,
            clinician_id=clinician.id,
            invite_id=issued.invite.id,
            reference="calendar:1",
            form_version=current_form().version,
            channel="email",
        )
        db.session.add(row)
        db.session.commit()
        return int(row.id)


def test_join_opens_minutes_before_and_leads_into_the_waiting_room(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, CALENDAR_PORTAL_JOIN_MINUTES=20)
    soon = telehealth_appointment(app, "Devon", dt.timedelta(minutes=15))
    later = telehealth_appointment(app, "Devon", dt.timedelta(minutes=40))
    patient = sign_in_by_sms(app)
    page = patient.get("/portal/appointments").text
    assert "opens 20 minutes before" in page
    assert re.search(rf'data-appointment-id="{soon}".*?cal-portal-join" >Join', page, re.S)
    assert re.search(rf'data-appointment-id="{later}".*?cal-portal-join" disabled', page, re.S)
    refused = patient.post(f"/portal/appointments/{later}/join")
    assert refused.status_code == 409 and "20 minutes before" in refused.text
    joined = patient.post(f"/portal/appointments/{soon}/join")
    assert joined.status_code == 303 and "/join/" in joined.headers["Location"]
    token = joined.headers["Location"].rsplit("/", 1)[1]
    assert patient.get(f"/join/{token}").status_code == 200
    with app.app_context():
        invite = db.session.scalar(
            sa.select(PatientInvite).where(PatientInvite.source == "calendar")
        )
        assert invite is not None and invite.kind == "appointment"
        assert invite.client_id == client_named(app, "Devon")
        assert invite.reference is not None and invite.reference.startswith(f"calendar:{soon}@")
    assert "calendar.portal_joined" in actions(app, "calendar.")


def test_a_consent_form_is_answered_in_the_portal(app: Flask) -> None:
    mine = consent_request(app, "Devon")
    patient = sign_in_by_sms(app)
    listed = patient.get("/portal/forms")
    assert f'data-request-id="{mine}"' in listed.text
    form = patient.get(f"/portal/forms/{mine}")
    assert (
        form.status_code == 200 and "Informed consent" in form.text and 'id="pp-nav"' in form.text
    )
    done = patient.post(
        f"/portal/forms/{mine}",
        data={"decision": "accept", "signature_kind": "typed", "typed_name": "Devon Patel"},
    )
    assert done.status_code == 200 and 'data-decision="accepted"' in done.text
    assert patient.get(f"/portal/forms/{mine}").status_code == 404  # answered
    with app.app_context():
        record = db.session.scalar(sa.select(ConsentRecord))
        assert record is not None and record.signature == "Devon Patel"
    staff = app.test_client()
    login(staff, "clinician1")
    activity = staff.get(f"/portal-admin/clients/{client_named(app, 'Devon')}?dock=1")
    assert activity.status_code == 200
    assert "accepted the consent form" in activity.text and "bo-nav" not in activity.text


# Every route of the portal blueprints, and how to aim it at another client's data.
PORTAL_ROUTES: dict[str, tuple[str, str]] = {
    "portal.home": ("GET", "/portal/"),
    "portal.sign_out": ("POST", "/portal/sign-out"),
    "calendar_portal.appointments": ("GET", "/portal/appointments"),
    "calendar_portal.join": ("POST", "/portal/appointments/{appointment}/join"),
    "calendar_portal.visits": ("GET", "/portal/visits"),
    "consent_portal.section": ("GET", "/portal/forms"),
    "consent_portal.section_form": ("GET", "/portal/forms/{request}"),
}
SIGN_IN_ROUTES = {
    "portal.sign_in",
    "portal.send_code",
    "portal.code",
    "portal.check_code",
    "portal.link",
    "consent_portal.form",  # the form's own link: its token is the key (tests/test_consent.py)
    "consent_portal.answer",
}


def test_no_portal_route_reaches_another_clients_data(app: Flask) -> None:
    portal_rules = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/portal/")}
    assert portal_rules == set(PORTAL_ROUTES) | SIGN_IN_ROUTES, "a new portal route: add it here"
    theirs = {
        "appointment": telehealth_appointment(app, "Alex", dt.timedelta(minutes=5)),
        "request": consent_request(app, "Alex"),
    }
    with app.app_context():
        past = Appointment(
            client_id=client_named(app, "Alex"),
            clinician_id=app.extensions["appbuilder"].sm.find_user(username="clinician1").id,
            start_at=utcnow() - dt.timedelta(days=3),
            end_at=utcnow() - dt.timedelta(days=3) + dt.timedelta(minutes=50),
            contact_type="Telehealth",
            status="Occurred",
        )
        db.session.add(past)
        db.session.commit()
        past_id = past.id
    anonymous = app.test_client()
    for method, url in PORTAL_ROUTES.values():
        answer = anonymous.open(url.format(**theirs), method=method)
        assert answer.status_code == 303, url
        assert answer.headers["Location"].startswith("/portal/sign-in"), url
    devon = sign_in_by_sms(app, "Devon")
    for endpoint, (method, url) in PORTAL_ROUTES.items():
        if endpoint == "portal.sign_out":
            continue
        answer = devon.open(url.format(**theirs), method=method)
        if "{" in url:
            assert answer.status_code == 404, url
        else:
            assert answer.status_code == 200, url
            assert "Alex" not in answer.text and "Rivera" not in answer.text, url
            assert f'data-appointment-id="{theirs["appointment"]}"' not in answer.text
            assert f'data-appointment-id="{past_id}"' not in answer.text
            assert f'data-request-id="{theirs["request"]}"' not in answer.text
    posted = devon.post(
        f"/portal/forms/{theirs['request']}",
        data={"decision": "decline"},
    )
    assert posted.status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRecord)) == 0
        joined = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(PatientInvite)
            .where(PatientInvite.source == "calendar")
        )
        assert joined == 0
    alex = sign_in_by_sms(app, "Alex")
    visits = alex.get("/portal/visits").text
    assert f'data-appointment-id="{past_id}"' in visits  # the same pages do show one's own


# --- the staff's page -------------------------------------------------------------------------


def test_staff_find_a_client_and_resend_access(app: Flask, inbox: tuple[SmtpCapture, int]) -> None:
    staff = app.test_client()
    login(staff, "frontdesk")
    found = staff.get("/portal-admin/?q=rivera&dock=1")
    assert found.status_code == 200 and "Alex Rivera" in found.text
    assert "bo-nav" not in found.text  # the dock's page has no navigation of its own
    alex = client_named(app, "Alex")
    sent = staff.post(
        f"/portal-admin/clients/{alex}/resend", data={"channel": "email", "dock": "1"}
    )
    assert sent.status_code == 303 and sent.headers["Location"].endswith("dock=1")
    (message,) = inbox[0].messages()
    link = re.search(r"http://localhost(/portal/link/\S+)", message.get_content())
    assert link, message.get_content()
    patient = app.test_client()
    assert patient.get(link.group(1)).status_code == 303
    assert "Hello Alex" in patient.get("/portal/").text
    page = staff.get(f"/portal-admin/clients/{alex}")
    assert 'data-live="1"' in page.text
    devon = client_named(app, "Devon")
    no_email = staff.post(f"/portal-admin/clients/{devon}/resend", data={"channel": "email"})
    assert no_email.status_code == 303
    assert "no email address on file" in staff.get(f"/portal-admin/clients/{devon}").text
    assert staff.get("/portal-admin/clients/999999").status_code == 404
    assert "portal.access_sent" in actions(app, "portal.")


# --- hot paths --------------------------------------------------------------------------------


def statements(app: Flask, patient: FlaskClient, url: str) -> tuple[int, int]:
    """SQL statements and COMMITs of one request."""
    with app.app_context():
        engine = db.engine
    counts = [0, 0]

    def on_query(*_args: Any) -> None:
        counts[0] += 1

    def on_commit(*_args: Any) -> None:
        counts[1] += 1

    sa.event.listen(engine, "before_cursor_execute", on_query)
    sa.event.listen(engine, "commit", on_commit)
    try:
        assert patient.get(url).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_query)
        sa.event.remove(engine, "commit", on_commit)
    return counts[0], counts[1]


def add_visits(app: Flask, username: str, days: range) -> None:
    with app.app_context():
        clinician = app.extensions["appbuilder"].sm.find_user(username=username)
        for day in days:
            start = utcnow() - dt.timedelta(days=day)
            db.session.add(
                Appointment(
                    client_id=client_named(app, "Devon"),
                    clinician_id=clinician.id,
                    start_at=start,
                    end_at=start + dt.timedelta(minutes=50),
                    contact_type="Telehealth",
                    status="Occurred",
                )
            )
        db.session.commit()


def test_portal_pages_do_not_grow_with_the_clients_records(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, PLUGIN_STATE_TTL=60.0)  # as in production: cached
    patient = sign_in_by_sms(app)
    telehealth_appointment(app, "Devon", dt.timedelta(days=1))
    consent_request(app, "Devon")
    add_visits(app, "clinician1", range(1, 2))
    pages = ("/portal/", "/portal/appointments", "/portal/visits", "/portal/forms")
    before = {url: statements(app, patient, url) for url in pages}
    for days in range(2, 8):
        telehealth_appointment(app, "Devon", dt.timedelta(days=days))
        consent_request(app, "Devon")
    add_visits(app, "clinician2", range(2, 7))
    after = {url: statements(app, patient, url) for url in pages}
    assert after == before
    assert all(queries <= 6 for queries, _commits in after.values()), after
    assert all(commits == 0 for _queries, commits in after.values()), after  # reads write nothing
    assert all(commits == 0 for _queries, commits in after.values())  # reads write nothing
