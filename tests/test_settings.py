"""Settings: Patient QuickVite, the practice's join links, practice settings and navigation.

Real parts only: the app on SQLite (and PostgreSQL when configured), the SMS outbox, an
aiosmtpd server for mail, a closed port for a mail server that does not answer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from core.database import db
from core.models import AuditEntry, JoinCode, OutboundMessage, PatientInvite, PracticeSetting
from tests.conftest import free_port, login
from tests.test_messaging import CollectingHandler, SmtpSink
from tests.test_waiting_room import QUIET, csrf_of

SEND = "/settings/quickvite/send"
PRACTICE = "/settings/practice/"


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpSink(host="127.0.0.1", port=int(controller.port), handler=handler)
    finally:
        controller.stop()


@pytest.fixture
def site(make_app: Callable[..., Flask]) -> Flask:
    return make_app(WTF_CSRF_ENABLED=False, **QUIET)


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    login(client, username)
    return client


def user_id(app: Flask, username: str) -> int:
    with app.app_context():
        return int(app.extensions["appbuilder"].sm.find_user(username=username).id)


def audits(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))
        db.session.expunge_all()
        return found


def check_in(app: Flask, path: str, name: str = "Pat Doe") -> Any:
    patient = app.test_client()
    page = patient.get(path)
    assert page.status_code == 200, page.text[:300]
    return patient.post(
        path + "/enter", json={"name": name}, headers={"X-CSRFToken": csrf_of(page.text)}
    )


def entry_of(app: Flask, entry_id: int) -> Any:
    from plugins.waiting_room.models import WaitingEntry

    with app.app_context():
        entry = db.session.get(WaitingEntry, entry_id)
        db.session.expunge_all()
        return entry


# --- QuickVite -------------------------------------------------------------------------------


def test_a_quickvite_by_text_lands_in_the_waiting_room_as_quickvite(site: Flask) -> None:
    desk = signed_in(site, "frontdesk")
    clinician = user_id(site, "clinician1")
    sent = desk.post(
        SEND, json={"name": "Jordan Lee", "phone": "(212) 555-0123", "provider_id": clinician}
    )
    assert sent.status_code == 201, sent.text
    body = sent.get_json()
    assert body["deliveries"] == [
        {"channel": "sms", "recipient": "+12125550123", "status": "recorded", "problem": None}
    ]
    assert body["qr_svg"].startswith("data:image/svg+xml")
    path = "/" + body["url"].split("/", 3)[3]
    with site.app_context():
        message = db.session.scalar(
            sa.select(OutboundMessage).where(OutboundMessage.source == "settings")
        )
        assert message is not None and body["url"] in message.body
        assert "Jordan Lee" in message.body
        invite = db.session.get(PatientInvite, body["invite_id"])
        assert invite is not None and invite.kind == "quickvite"
        assert invite.provider_id == clinician

    recent = desk.get("/settings/quickvite/recent").get_json()["invites"]
    assert [r["status"] for r in recent] == ["sent"]
    joined = check_in(site, path, name="Jordan Lee")
    assert joined.status_code == 201, joined.text
    entry = entry_of(site, joined.get_json()["entry_id"])
    assert entry.invite_kind == "quickvite" and entry.provider_id == clinician
    (row,) = desk.get("/settings/quickvite/recent").get_json()["invites"]
    assert row["status"] == "arrived" and row["opened_at"] and row["arrived_at"]
    assert len(audits(site, "settings.quickvite_sent")) == 1


def test_a_quickvite_by_email_goes_through_smtp(
    make_app: Callable[..., Flask], smtp_server: SmtpSink
) -> None:
    app = make_app(
        WTF_CSRF_ENABLED=False,
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=smtp_server.port,
        MAIL_SUPPRESS_SEND=False,
    )
    desk = signed_in(app, "frontdesk")
    sent = desk.post(
        SEND, json={"name": "Sam Ray", "email": " Sam@Example.ORG ", "note": "Bring ID"}
    )
    assert sent.status_code == 201, sent.text
    (delivery,) = sent.get_json()["deliveries"]
    assert delivery["status"] == "sent" and delivery["recipient"] == "Sam@example.org"
    (envelope,) = smtp_server.envelopes
    text = envelope.content.decode() if isinstance(envelope.content, bytes) else envelope.content
    assert envelope.rcpt_tos == ["Sam@example.org"]
    assert sent.get_json()["url"] in text.replace("=\r\n", "") and "Bring ID" in text


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        invites = db.session.scalar(sa.select(sa.func.count()).select_from(PatientInvite))
        messages = db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage))
        return int(invites or 0), int(messages or 0)


def test_a_wrong_phone_and_a_wrong_email_are_named_per_field(site: Flask) -> None:
    desk = signed_in(site, "frontdesk")
    before = counts(site)
    refused = desk.post(SEND, json={"name": "Pat", "phone": "555 123", "email": "pat@"})
    assert refused.status_code == 400
    fields = refused.get_json()["fields"]
    assert "phone number" in fields["phone"] and "Error" not in fields["phone"]
    assert "email address is not valid" in fields["email"]
    nothing = desk.post(SEND, json={"name": ""})
    assert set(nothing.get_json()["fields"]) == {"name", "phone", "email"}
    typed = desk.post(SEND, json={"name": 5, "provider_id": "x"})
    assert typed.status_code == 400 and "provider_id" in typed.get_json()["fields"]
    assert desk.post(SEND, data="not json", content_type="application/json").status_code == 400
    assert counts(site) == before


def test_a_delivery_failure_is_a_plain_sentence_and_the_link_is_still_given(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(
        WTF_CSRF_ENABLED=False,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=free_port(),  # nobody listens
        MAIL_SUPPRESS_SEND=False,
        MAIL_TIMEOUT=2,
    )
    desk = signed_in(app, "frontdesk")
    sent = desk.post(SEND, json={"name": "Ana", "email": "ana@example.org"})
    assert sent.status_code == 201
    body = sent.get_json()
    (delivery,) = body["deliveries"]
    assert delivery["status"] == "failed"
    assert delivery["problem"] == (
        "The email could not be sent: the mail server did not answer. Copy the link instead."
    )
    assert body["url"].startswith("http://") and "/join/" in body["url"]
    (row,) = desk.get("/settings/quickvite/recent").get_json()["invites"]
    assert row["status"] == "not delivered"
    assert "Errno" not in str(row)


def test_resend_replaces_the_link_and_revoke_closes_it(site: Flask) -> None:
    desk = signed_in(site, "frontdesk")
    first = desk.post(SEND, json={"name": "Kim", "phone": "+44 20 7946 0958"}).get_json()
    old_path = "/" + first["url"].split("/", 3)[3]
    again = desk.post(f"/settings/quickvite/{first['id']}/resend")
    assert again.status_code == 201
    assert site.test_client().get(old_path).status_code == 404
    statuses = {
        r["id"]: r["status"] for r in desk.get("/settings/quickvite/recent").get_json()["invites"]
    }
    assert statuses == {first["id"]: "resent", again.get_json()["id"]: "sent"}
    assert desk.post(f"/settings/quickvite/{first['id']}/resend").status_code == 409
    new = again.get_json()
    assert desk.post(f"/settings/quickvite/{new['id']}/revoke").status_code == 200
    assert site.test_client().get("/" + new["url"].split("/", 3)[3]).status_code == 404
    assert desk.post("/settings/quickvite/999999/revoke").status_code == 404
    assert len(audits(site, "invite.revoked")) == 2


def test_quickvites_are_rate_limited_per_sender_and_per_recipient(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(
        WTF_CSRF_ENABLED=False,
        RATELIMIT_ENABLED=True,
        QUICKVITE_RATE_LIMIT="4 per hour",
        QUICKVITE_RECIPIENT_RATE_LIMIT="2 per hour",
        **QUIET,
    )
    desk = signed_in(app, "frontdesk")
    for _ in range(2):
        assert desk.post(SEND, json={"name": "Flo", "phone": "+1 415 555 0101"}).status_code == 201
    before = counts(app)
    flooded = desk.post(SEND, json={"name": "Flo", "phone": "+14155550101"})
    assert flooded.status_code == 429
    assert (
        "This mobile number has already been sent several QuickVites" in flooded.get_json()["error"]
    )
    assert counts(app) == before  # refused before anything was created or sent
    assert desk.post(SEND, json={"name": "Gus", "email": "gus@example.org"}).status_code == 201
    # The sender's own limit (4): the refused send counted too.
    spree = desk.post(SEND, json={"name": "Hal", "email": "hal@example.org"})
    assert spree.status_code == 429 and "You have sent many QuickVites" in spree.get_json()["error"]
    other = signed_in(app, "practiceadmin")
    assert other.post(SEND, json={"name": "Hal", "email": "hal@example.org"}).status_code == 201
    refused = other.post("/settings/practice/", data={"QUICKVITE_RECIPIENT_RATE_LIMIT": "lots"})
    assert refused.status_code == 400 and "write it like &#34;30 per hour&#34;" in refused.text


def test_the_quickvite_button_is_on_every_staff_page_for_those_allowed(site: Flask) -> None:
    desk = signed_in(site, "frontdesk")
    for page in ("/", "/tools/speedtest/", "/settings/quickvite/"):
        html = desk.get(page).text
        assert 'id="bo-quickvite"' in html and 'id="qv-dialog"' in html, page
        assert "settings/quickvite.js" in html
    assert 'id="bo-quickvite"' not in signed_in(site, "secadmin").get("/").text


# --- join codes --------------------------------------------------------------------------------


def practice_code_id(app: Flask, code: str = "demo-practice") -> int:
    from core.join_codes import ensure_practice_codes

    with app.app_context():
        ensure_practice_codes()  # the registry starts from WAITING_ROOM_EXTERNAL_CODE
        found = db.session.scalar(sa.select(JoinCode.id).where(JoinCode.code == code))
        assert found is not None
        return int(found)


def active_practice_code(app: Flask) -> str:
    with app.app_context():
        return str(
            db.session.scalar(
                sa.select(JoinCode.code).where(
                    JoinCode.provider_id.is_(None), JoinCode.retired_at.is_(None)
                )
            )
        )


def test_rotating_without_grace_stops_the_old_link_at_once(site: Flask) -> None:
    admin = signed_in(site, "practiceadmin")
    page = admin.get("/settings/join-codes/")
    assert page.status_code == 200 and "/wait/demo-practice" in page.text
    assert "&lt;a href=" in page.text  # the snippet, to copy
    rotated = admin.post(
        f"/settings/join-codes/{practice_code_id(site)}/rotate", data={"grace_hours": "0"}
    )
    assert rotated.status_code == 303
    old = site.test_client().get("/wait/demo-practice")
    assert old.status_code == 410 and "contact the practice" in old.text
    fresh = active_practice_code(site)
    assert fresh != "demo-practice" and len(fresh) >= 12
    assert check_in(site, f"/wait/{fresh}").status_code == 201
    (entry,) = audits(site, "join_code.rotated")
    assert entry.actor == "practiceadmin" and entry.details["grace_seconds"] == 0
    again = admin.post(
        f"/settings/join-codes/{practice_code_id(site)}/rotate", data={"grace_hours": "0"}
    )
    assert again.status_code == 409


def test_rotating_with_grace_keeps_the_old_link_working_until_it_ends(site: Flask) -> None:
    admin = signed_in(site, "practiceadmin")
    old_id = practice_code_id(site)
    assert (
        admin.post(f"/settings/join-codes/{old_id}/rotate", data={"grace_hours": "2"}).status_code
        == 303
    )
    assert check_in(site, "/wait/demo-practice").status_code == 201  # still in its grace
    listed = admin.get("/settings/join-codes/").text
    assert 'data-state="grace"' in listed
    with site.app_context():
        row = db.session.get(JoinCode, old_id)
        assert row is not None and row.valid_until is not None
        assert dt.timedelta(hours=1.9) < row.valid_until - row.retired_at <= dt.timedelta(hours=2)
        row.valid_until = row.retired_at  # the grace period has passed
        db.session.commit()
    assert site.test_client().get("/wait/demo-practice").status_code == 410
    for bad in ("-1", "nine", "100000"):
        refused = admin.post(f"/settings/join-codes/{old_id}/rotate", data={"grace_hours": bad})
        assert refused.status_code == 400, bad
    assert (
        admin.post("/settings/join-codes/999999/rotate", data={"grace_hours": "1"}).status_code
        == 404
    )


def test_only_roles_granted_it_rotate_or_see_codes(site: Flask) -> None:
    desk = signed_in(site, "frontdesk")
    assert desk.get("/settings/join-codes/").status_code == 200
    denied = desk.post(
        f"/settings/join-codes/{practice_code_id(site)}/rotate", data={"grace_hours": "0"}
    )
    assert denied.status_code in {302, 403}
    assert site.test_client().get("/wait/demo-practice").status_code == 200
    assert signed_in(site, "secadmin").get("/settings/join-codes/").status_code in {302, 403}


def test_a_provider_link_leads_to_that_provider_and_qr_codes_download(site: Flask) -> None:
    desk = signed_in(site, "frontdesk")
    desk.get("/settings/join-codes/")  # makes each provider's first code
    clinician = user_id(site, "clinician1")
    with site.app_context():
        row = db.session.scalar(sa.select(JoinCode).where(JoinCode.provider_id == clinician))
        assert row is not None
        code, code_id = row.code, row.id
    joined = check_in(site, f"/wait/{code}")
    assert entry_of(site, joined.get_json()["entry_id"]).provider_id == clinician
    svg = desk.get(f"/settings/join-codes/{code_id}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    png = desk.get(f"/settings/join-codes/{code_id}/qr.png")
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    assert desk.get(f"/settings/join-codes/{code_id}/qr.gif").status_code == 404
    assert desk.get("/settings/join-codes/999999/qr.svg").status_code == 404


# --- practice settings ----------------------------------------------------------------------------


def test_a_setting_is_stored_audited_and_seen_by_another_worker(
    make_app: Callable[..., Flask],
) -> None:
    first = make_app(WTF_CSRF_ENABLED=False, **QUIET)
    second = make_app(WTF_CSRF_ENABLED=False, **QUIET)  # another worker on the same database
    second.test_client().get("/wait/demo-practice")  # its cache is warm before the change
    admin = signed_in(first, "practiceadmin")
    saved = admin.post(
        PRACTICE,
        data={"PRACTICE_NAME": "Lakeside Counselling", "WAITING_ROOM_MESSAGE": "Tea is on us."},
    )
    assert saved.status_code == 303
    with first.test_request_context():
        from core.api import setting

        assert setting("PRACTICE_NAME") == "Lakeside Counselling"
    (entry,) = [a for a in audits(first, "setting.changed") if a.target == "PRACTICE_NAME"]
    assert entry.details == {"before": None, "after": "Lakeside Counselling"}
    import time

    time.sleep(float(second.config["SETTINGS_TTL"]) + 0.1)
    with second.app_context():  # what its server's housekeeping does every second
        second.extensions["backoffice.settings"].refresh()
    page = second.test_client().get("/wait/demo-practice").text
    assert "Lakeside Counselling" in page and "Tea is on us." in page


def test_a_key_set_in_the_environment_is_locked(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKOFFICE_PRACTICE_NAME", "Env Practice")
    app = make_app(WTF_CSRF_ENABLED=False)
    admin = signed_in(app, "practiceadmin")
    form = admin.get(PRACTICE).text
    field = form.split('data-key="PRACTICE_NAME"')[1].split("</div>\n      </div>")[0]
    assert "disabled" in field and "BACKOFFICE_PRACTICE_NAME" in field
    admin.post(PRACTICE, data={"PRACTICE_NAME": "Changed From The Form"})
    with app.test_request_context():
        from core.api import setting

        assert setting("PRACTICE_NAME") == "Env Practice"
    assert audits(app, "setting.changed") == []


def test_secrets_are_write_only(site: Flask) -> None:
    admin = signed_in(site, "practiceadmin")
    admin.post(PRACTICE, data={"SMS_HTTP_TOKEN": "tok-s3cret-42"})
    page = admin.get(PRACTICE).text
    assert "tok-s3cret-42" not in page and "(set; not shown)" in page
    (entry,) = audits(site, "setting.changed")
    assert "tok-s3cret-42" not in str(entry.details)
    admin.post(PRACTICE, data={"SMS_HTTP_TOKEN": ""})  # empty keeps it
    with site.test_request_context():
        from core.api import setting

        assert setting("SMS_HTTP_TOKEN") == "tok-s3cret-42"
    admin.post(PRACTICE, data={"SMS_HTTP_TOKEN": "", "SMS_HTTP_TOKEN__clear": "1"})
    with site.test_request_context():
        assert setting("SMS_HTTP_TOKEN") == ""


def stored_value(app: Flask, key: str) -> object:
    with app.app_context():
        return db.session.scalar(sa.select(PracticeSetting.value).where(PracticeSetting.key == key))


def test_secrets_are_sealed_at_rest_and_a_key_can_be_rotated(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    from cryptography.fernet import Fernet

    from core.commands import cli

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = make_app(WTF_CSRF_ENABLED=False, SETTINGS_SECRET_KEYS=[old_key], **QUIET)
    signed_in(first, "practiceadmin").post(PRACTICE, data={"MAIL_PASSWORD": "pw-on-disk-7"})
    sealed = stored_value(first, "MAIL_PASSWORD")
    assert isinstance(sealed, str) and sealed.startswith("fernet:") and "pw-on-disk-7" not in sealed
    assert Fernet(old_key).decrypt(sealed.removeprefix("fernet:").encode()) == b"pw-on-disk-7"

    # The new key first, the old one still opening: values read, then sealed anew.
    rotated = make_app(SETTINGS_SECRET_KEYS=[new_key, old_key], **QUIET)
    with rotated.test_request_context():
        from core.api import setting

        assert setting("MAIL_PASSWORD") == "pw-on-disk-7"
    result = rotated.test_cli_runner().invoke(cli, ["settings", "reseal"])
    assert result.exit_code == 0 and "1 secret setting(s) sealed" in result.output
    resealed = str(stored_value(rotated, "MAIL_PASSWORD"))
    assert Fernet(new_key).decrypt(resealed.removeprefix("fernet:").encode()) == b"pw-on-disk-7"

    # A key that opens nothing: the value counts as unset and the log says what to do.
    stranger = make_app(SETTINGS_SECRET_KEYS=[Fernet.generate_key().decode()], **QUIET)
    with stranger.test_request_context():
        assert setting("MAIL_PASSWORD") == stranger.config["MAIL_PASSWORD"]
    assert "MAIL_PASSWORD cannot be opened" in caplog.text and "enter it again" in caplog.text
    page = signed_in(stranger, "practiceadmin").get(PRACTICE).text
    field = page.split('data-key="MAIL_PASSWORD"')[1].split("</div>\n      </div>")[0]
    assert "(set; not shown)" not in field


def test_a_malformed_sealing_key_fails_the_boot_with_the_reason(
    make_app: Callable[..., Flask],
) -> None:
    with pytest.raises(RuntimeError, match="SETTINGS_SECRET_KEYS must be Fernet keys"):
        make_app(SETTINGS_SECRET_KEYS=["not-a-key"])


def png_bytes() -> bytes:
    import io

    import segno

    out = io.BytesIO()
    segno.make("logo").save(out, kind="png", scale=4)
    return out.getvalue()


def test_the_practice_logo_is_uploaded_checked_by_content_and_shown_everywhere(
    site: Flask,
) -> None:
    import io

    admin = signed_in(site, "practiceadmin")
    logo = png_bytes()
    renamed_pdf = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    refused = admin.post(f"{PRACTICE}logo", data={"logo": (io.BytesIO(renamed_pdf), "logo.png")})
    assert refused.status_code == 400 and "this is a PDF" in refused.text
    too_big = admin.post(
        f"{PRACTICE}logo", data={"logo": (io.BytesIO(logo + b"\0" * 600_000), "big.png")}
    )
    assert too_big.status_code == 400 and "at most 512 KB" in too_big.text
    assert signed_in(site, "frontdesk").post(
        f"{PRACTICE}logo", data={"logo": (io.BytesIO(logo), "logo.png")}
    ).status_code in {302, 403}

    saved = admin.post(f"{PRACTICE}logo", data={"logo": (io.BytesIO(logo), "logo.png")})
    assert saved.status_code == 303
    src = re.search(r'class="bo-logo" src="(/practice-logo\?v=\w+)"', admin.get("/").text)
    assert src is not None
    served = site.test_client().get(src.group(1))  # anyone: patients' pages show it
    assert served.status_code == 200 and served.data == logo
    assert served.mimetype == "image/png" and "immutable" in served.headers["Cache-Control"]
    assert src.group(1) in site.test_client().get("/wait/demo-practice").text
    with site.app_context():  # every worker re-reads its settings each second: not the bytes
        cache = site.extensions["backoffice.settings"]
        cache._loaded_at = float("-inf")
        assert "core.blob.practice_logo" not in cache.values()
        assert set(cache.values()["core.practice_logo"]) == {"type", "sha256"}
    (entry,) = [a for a in audits(site, "setting.changed") if a.target == "core.practice_logo"]
    assert entry.details == {"changed": True, "cleared": False}

    assert admin.post(f"{PRACTICE}logo", data={"remove": "1"}).status_code == 303
    assert "/practice-logo" not in admin.get("/").text
    assert site.test_client().get("/practice-logo").status_code == 404


def test_bad_values_are_refused_with_a_message_and_nothing_is_saved(site: Flask) -> None:
    admin = signed_in(site, "practiceadmin")
    for data, words in [
        ({"PRACTICE_NAME": "Saved?", "MAIL_PORT": "abc"}, "enter a number"),
        ({"PRACTICE_TIMEZONE": "Mars/Olympus"}, "choose one of"),
        ({"WAITING_ROOM_ALERT_PROVIDER_AFTER": "5"}, "at least 30"),
    ]:
        refused = admin.post(PRACTICE, data=data)
        assert refused.status_code == 400 and words in refused.text, data
    with site.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PracticeSetting)) == 0
    assert signed_in(site, "frontdesk").post(PRACTICE, data={"PRACTICE_NAME": "x"}).status_code in {
        302,
        403,
    }


def test_settings_reach_the_services_that_use_them(site: Flask) -> None:
    admin = signed_in(site, "practiceadmin")
    admin.post(
        PRACTICE,
        data={"PRACTICE_TIMEZONE": "America/Chicago", "TELEHEALTH_ENABLED__shown": "1"},
    )
    with site.test_request_context():
        from core.api import practice_timezone, setting

        assert str(practice_timezone()) == "America/Chicago"
        assert setting("TELEHEALTH_ENABLED") is False  # the unticked box
    form = admin.get(PRACTICE).text
    for section in (
        "Practice",
        "Email",
        "Text messages (SMS)",
        "Waiting room",
        "Message templates",
    ):
        assert f'data-section="{section}"' in form, section


def test_a_partner_plugin_declared_setting_gets_a_field(
    partner_plugins: Path, make_app: Callable[..., Flask]
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    admin = signed_in(app, "practiceadmin")
    form = admin.get(PRACTICE).text
    assert 'data-key="PARTNER_HELLO_GREETING"' in form and 'data-owner="partner_hello"' in form
    assert 'value="Hello"' in form.split('data-key="PARTNER_HELLO_GREETING"')[1]
    admin.post(PRACTICE, data={"PARTNER_HELLO_GREETING": "Welcome"})
    with app.test_request_context():
        from core.api import setting

        assert setting("PARTNER_HELLO_GREETING") == "Welcome"


# --- navigation ---------------------------------------------------------------------------------


def sections_of(html: str) -> list[str]:
    nav = html.split('id="bo-nav"')[1].split("</nav>")[0]
    return re.findall(r'class="bo-section" data-section="([^"]+)"', nav)


def test_the_navigation_follows_the_seed_and_the_admins_order(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    admin = signed_in(app, "admin")
    seeded = sections_of(admin.get("/").text)
    assert seeded.index("Tools") < seeded.index("Settings") < seeded.index("Waiting Room")
    assert seeded[-2:] == ["Admin", "Security"] or seeded[-1] in {"Sites", "Security"}
    assert 'href="/logout/"' in admin.get("/").text.split('data-section="Settings"')[1]

    manager = signed_in(app, "practiceadmin")
    form = {f"position__{name}": str(i) for i, name in enumerate(seeded)}
    form["position__Waiting Room"] = "-1"
    form["label__Waiting Room"] = "Lobby"
    assert manager.post("/settings/navigation/", data=form).status_code == 303
    page = admin.get("/").text
    assert sections_of(page)[0] == "Waiting Room" and "Lobby" in page
    fresh = make_app(WTF_CSRF_ENABLED=False)  # another worker
    with fresh.test_request_context():
        from core.navigation import sections

        first = sections()[0]
        assert (first["name"], first["label"]) == ("Waiting Room", "Lobby")
    assert manager.post("/settings/navigation/", data={"label__Nope": "x"}).status_code == 303
    assert (
        manager.post("/settings/navigation/", data={"position__Tools": "first"}).status_code == 400
    )
    assert manager.post("/settings/navigation/reset").status_code == 303
    assert sections_of(admin.get("/").text) == seeded
    assert signed_in(app, "frontdesk").post("/settings/navigation/reset").status_code in {302, 403}
