"""A real video call: a clinician and a patient in two Chromium contexts with fake media.

Both pages run on http://127.0.0.1 (a secure context, so WebRTC and the fake camera work),
signal through an eventlet server, and must reach "connected" with media flowing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, expect
from sqlalchemy import text

from tests.browser.conftest import REPORTS, TIMEOUT_MS, artifact_path, browser_login
from tests.conftest import LiveServer
from tests.realtime_helpers import database

CONNECT_MS = 20_000  # generous for ICE on a loaded machine, but bounded
STATE = "#video-state"


@pytest.fixture
def contexts(browser: Browser, request: pytest.FixtureRequest) -> Iterator[list[BrowserContext]]:
    """Separate browser profiles (cookies, storage), like two people on two computers."""
    opened: list[BrowserContext] = []
    yield opened
    reports = request.node.stash.get(REPORTS, {})
    failed = any(report.failed for report in reports.values())
    for index, context in enumerate(opened):
        if failed:
            for number, page in enumerate(context.pages):
                try:
                    page.screenshot(path=artifact_path(f"FAILED-video-{index}-{number}.png"))
                except Exception as exc:  # a crashed page must not hide the real failure
                    print(f"could not save a screenshot: {exc}")
        context.close()


def new_page(browser: Browser, contexts: list[BrowserContext]) -> Page:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    contexts.append(context)
    page = context.new_page()
    page.on("console", show_problems)
    return page


def show_problems(message: ConsoleMessage) -> None:
    """Browser warnings and errors land in the test's captured output."""
    if message.type in {"error", "warning"}:
        print(f"browser {message.type}: {message.text}")


def accept(dialog: Dialog) -> None:
    dialog.accept()


def media_flows(page: Page) -> None:
    """The other person's video is decoding frames, not just negotiated."""
    page.wait_for_function(
        "() => { const v = document.querySelector('.video-tile-remote video');"
        " return !!v && v.videoWidth > 0 && v.currentTime > 0; }",
        timeout=CONNECT_MS,
    )


def test_clinician_and_patient_connect_chat_and_end(
    browser: Browser,
    contexts: list[BrowserContext],
    live_server_factory: Callable[..., LiveServer],
    backend: str,
) -> None:
    server = live_server_factory(async_mode="eventlet", backend=backend)
    clinician = new_page(browser, contexts)
    browser_login(clinician, server.url, "clinician1")

    # Start a session for a test call, as the page offers.
    clinician.goto(server.url + "/video/new")
    clinician.click("#video-new-start")
    expect(clinician).to_have_url(re.compile(r"/video/session/\d+$"))
    session_id = int(clinician.url.rsplit("/", 1)[1])
    expect(clinician.locator(STATE)).to_have_attribute("data-state", "waiting", timeout=CONNECT_MS)

    clinician.click("#video-patient-link")
    expect(clinician.locator("#video-link")).to_have_value(re.compile(r"/video/p/"))
    link = clinician.input_value("#video-link")
    assert link.startswith(server.url + "/video/p/"), link

    patient = new_page(browser, contexts)
    patient.goto(link)
    for page in (clinician, patient):
        expect(page.locator(f"{STATE}[data-state=connected]")).to_be_visible(timeout=CONNECT_MS)
    for page in (clinician, patient):
        media_flows(page)
    expect(clinician.locator("#video-participants li")).to_have_count(2)

    # Mute, camera off and screen share change what is sent, not the connection.
    sent = (
        "() => Object.values(window.videoCall.peers)[0].pc.getSenders()"
        ".filter(s => s.track).map(s => s.track.kind + ':' + s.track.enabled + ':' + s.track.label)"
    )
    clinician.click("#video-mute")
    clinician.click("#video-camera-off")
    expect(clinician.locator("#video-mute")).to_have_attribute("aria-pressed", "true")
    tracks = clinician.evaluate(sent)
    assert any(t.startswith("audio:false") for t in tracks), tracks
    assert any(t.startswith("video:false") for t in tracks), tracks
    clinician.click("#video-mute")
    clinician.click("#video-camera-off")
    clinician.click("#video-share")
    expect(clinician.locator("#video-share")).to_have_attribute("aria-pressed", "true")
    tracks = clinician.evaluate(sent)
    assert any(t.startswith("video:true:screen") for t in tracks), tracks
    clinician.click("#video-share")
    expect(clinician.locator("#video-share")).to_have_attribute("aria-pressed", "false")
    tracks = clinician.evaluate(sent)
    assert not any("screen" in t for t in tracks), tracks
    expect(patient.locator(f"{STATE}[data-state=connected]")).to_be_visible()

    # Chat, both ways.
    clinician.fill("#video-chat-body", "Hello, can you see me?")
    clinician.click("#video-chat-send")
    expect(patient.locator("#video-chat-log .video-chat-body")).to_have_text(
        ["Hello, can you see me?"]
    )
    patient.fill("#video-chat-body", "Yes, clearly.")
    patient.press("#video-chat-body", "Enter")
    for page in (clinician, patient):
        expect(page.locator("#video-chat-log .video-chat-body")).to_have_text(
            ["Hello, can you see me?", "Yes, clearly."]
        )
    expect(clinician.locator("#video-chat-log li").last).to_have_attribute("data-kind", "patient")
    # Let the clock pass a whole second or two, so the duration cannot round to zero.
    clinician.wait_for_function(
        "() => /^\\d+:(0[2-9]|[1-5]\\d)$/.test(document.getElementById('video-clock').textContent)",
        timeout=CONNECT_MS,
    )

    clinician.once("dialog", accept)
    clinician.click("#video-end")
    for page in (clinician, patient):
        expect(page.locator(STATE)).to_have_attribute("data-state", "ended")
        expect(page.locator("#video-ended")).to_be_visible()

    with database(server.database_url) as engine, engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT status, started_at, ended_at, duration_seconds FROM video_session "
                "WHERE id = :id"
            ),
            {"id": session_id},
        ).one()
        kinds = sorted(
            connection.execute(
                text("SELECT kind FROM video_participant WHERE session_id = :id"),
                {"id": session_id},
            ).scalars()
        )
        lines = connection.execute(
            text(
                "SELECT sender_kind, body FROM video_chat_line WHERE session_id = :id ORDER BY id"
            ),
            {"id": session_id},
        ).all()
    assert row.status == "ended"
    assert row.started_at is not None and row.ended_at is not None
    assert row.ended_at > row.started_at
    assert row.duration_seconds is not None and row.duration_seconds > 0
    assert kinds == ["patient", "staff"]
    assert [tuple(line) for line in lines] == [
        ("staff", "Hello, can you see me?"),
        ("patient", "Yes, clearly."),
    ]


def ice_ufrag(page: Page) -> str:
    """The local ICE username fragment of the page's only peer connection."""
    value = page.evaluate(
        "() => { const peers = Object.values(window.videoCall.peers);"
        " if (peers.length !== 1 || !peers[0].pc.localDescription) { return ''; }"
        " const m = peers[0].pc.localDescription.sdp.match(/a=ice-ufrag:(\\S+)/);"
        " return m ? m[1] : ''; }"
    )
    return str(value)


def participant_rows(server: LiveServer, session_id: int) -> list[tuple[str, bool]]:
    with database(server.database_url) as engine, engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT kind, left_at IS NULL FROM video_participant WHERE session_id = :id "
                "ORDER BY id"
            ),
            {"id": session_id},
        ).all()
    return [(str(kind), bool(present)) for kind, present in rows]


def test_the_call_survives_a_dropped_network_and_a_reload_and_takes_a_guest(
    browser: Browser,
    contexts: list[BrowserContext],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(async_mode="eventlet")
    clinician = new_page(browser, contexts)
    browser_login(clinician, server.url, "clinician1")
    clinician.goto(server.url + "/video/new")
    clinician.click("#video-new-start")
    expect(clinician).to_have_url(re.compile(r"/video/session/\d+$"))
    session_id = int(clinician.url.rsplit("/", 1)[1])
    expect(clinician.locator("#video-patient-link")).to_be_enabled()  # its script is ready
    clinician.click("#video-patient-link")
    expect(clinician.locator("#video-link")).to_have_value(re.compile(r"/video/p/"))
    patient = new_page(browser, contexts)
    patient.goto(clinician.input_value("#video-link"))
    for page in (clinician, patient):
        expect(page.locator(f"{STATE}[data-state=connected]")).to_be_visible(timeout=CONNECT_MS)

    # The patient's network drops: the socket reconnects, re-joins, and restarts ICE.
    before = ice_ufrag(patient)
    assert before
    patient.evaluate("() => window.videoCall.socket.io.engine.close()")
    patient.wait_for_function(
        "ufrag => { const p = Object.values(window.videoCall.peers)[0];"
        " return !!p && p.pc.signalingState === 'stable' && !!p.pc.localDescription"
        " && !p.pc.localDescription.sdp.includes('a=ice-ufrag:' + ufrag); }",
        arg=before,
        timeout=CONNECT_MS,
    )
    for page in (clinician, patient):
        expect(page.locator(f"{STATE}[data-state=connected]")).to_be_visible(timeout=CONNECT_MS)
    assert participant_rows(server, session_id) == [("staff", True), ("patient", True)]
    patient.fill("#video-chat-body", "Back again")
    patient.press("#video-chat-body", "Enter")
    expect(clinician.locator("#video-chat-log .video-chat-body")).to_have_text(["Back again"])

    # The patient reloads the page: a new connection replaces the old one, same participant.
    patient.reload()
    for page in (clinician, patient):
        expect(page.locator(f"{STATE}[data-state=connected]")).to_be_visible(timeout=CONNECT_MS)
        media_flows(page)
    expect(patient.locator("#video-chat-log .video-chat-body")).to_have_text(["Back again"])
    assert participant_rows(server, session_id) == [("staff", True), ("patient", True)]

    # A third participant through a one-time guest link.
    clinician.click("#video-invite")
    expect(clinician.locator("#video-link")).to_have_value(re.compile(r"/video/g/"))
    guest_link = clinician.input_value("#video-link")
    guest = new_page(browser, contexts)
    guest.goto(guest_link)
    guest.fill("#video-guest-name", "Ana (interpreter)")
    guest.click("#video-guest-join")
    expect(guest).to_have_url(re.compile(r"/video/p/"))
    for page in (clinician, patient, guest):
        expect(page.locator(f"{STATE}[data-state=connected]")).to_be_visible(timeout=CONNECT_MS)
        expect(page.locator(".video-tile-remote[data-state=connected]")).to_have_count(
            2, timeout=CONNECT_MS
        )
        expect(page.locator("#video-grid")).to_have_attribute("data-count", "3")
    expect(clinician.locator("#video-participants li[data-kind=guest]")).to_have_text(
        re.compile("Ana \\(interpreter\\)")
    )
    assert participant_rows(server, session_id) == [
        ("staff", True),
        ("patient", True),
        ("guest", True),
    ]
    # The guest link is spent.
    spent = contexts[-1].new_page()
    assert (response := spent.goto(guest_link)) is not None and response.status == 404
    spent.close()

    # The guest's network dies for good (no goodbye, no reconnect): the others are told at
    # once, not left watching a frozen picture.
    guest.evaluate(
        "() => { const s = window.videoCall.socket;"
        " s.io.reconnection(false); s.io.engine.close(); }"
    )
    for page in (clinician, patient):
        expect(page.locator("#video-participants li[data-kind=guest]")).to_have_attribute(
            "data-dropped", "true", timeout=CONNECT_MS
        )
        expect(page.locator("#video-notice")).to_contain_text("connection was lost")
        expect(page.locator("#video-grid")).to_have_attribute("data-count", "2")
    expect(clinician.locator(f"{STATE}[data-state=connected]")).to_be_visible()

    clinician.once("dialog", accept)
    clinician.click("#video-end")
    for page in (clinician, patient):
        expect(page.locator(STATE)).to_have_attribute("data-state", "ended")


def test_the_call_runs_in_its_own_small_window_beside_the_back_office(
    browser: Browser,
    contexts: list[BrowserContext],
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(async_mode="eventlet")
    main = new_page(browser, contexts)
    browser_login(main, server.url, "clinician1")
    main.goto(server.url + "/video/new")
    main.click("#video-new-start")
    expect(main).to_have_url(re.compile(r"/video/session/\d+$"))
    session_id = int(main.url.rsplit("/", 1)[1])
    expect(main.locator(STATE)).to_have_attribute("data-state", "waiting", timeout=CONNECT_MS)

    # "Own window": the call moves to a small window, the main one returns to the back office.
    with main.context.expect_page() as opened:
        main.click("#video-popout")
    call = opened.value
    call.on("console", show_problems)
    expect(main).to_have_url(server.url + "/")
    expect(call).to_have_url(re.compile(rf"/video/session/{session_id}\?compact=1$"))
    expect(call.locator("body")).to_have_class(re.compile(r"\bvideo-compact\b"))
    expect(call.locator(".bo-sidebar")).to_be_hidden()
    expect(call.locator(STATE)).to_have_attribute("data-state", "waiting", timeout=CONNECT_MS)
    expect(call.locator("#video-popout")).to_be_hidden()

    # The call window is a companion, not a rival tab: its (re)connection does not block the
    # back office with "open in another tab", nor the other way round.
    main.evaluate(
        "() => { window.elsewhereSeen = 0;"
        " window.backofficeSocket.on('core.open_elsewhere', () => { window.elsewhereSeen++; }); }"
    )
    call.evaluate("() => { const s = window.videoCall.socket; s.disconnect(); s.connect(); }")
    call.wait_for_function("() => window.videoCall.socket.connected")
    main.wait_for_timeout(1000)  # "open elsewhere" would reach the main window within ms
    assert main.evaluate("() => window.elsewhereSeen") == 0
    expect(main.locator("#bo-overlay")).to_be_hidden()
    main.goto(server.url + "/video/sessions/list/")
    expect(main.locator("#bo-nav")).to_be_visible()
    expect(call.locator("#bo-overlay")).to_be_hidden()
    expect(main.locator("#bo-overlay")).to_be_hidden()
    expect(call.locator(STATE)).to_have_attribute("data-state", "waiting")

    # The back office shows the way back to the call, and a link to the running call
    # brings its window forward instead of opening a second one.
    expect(main.locator("#video-return-pill")).to_be_visible()
    main.click("#video-return-pill")
    main.goto(server.url + "/video/new")
    main.click(f"#video-open-sessions a[href$='/video/session/{session_id}']")
    expect(main).to_have_url(re.compile(r"/video/new$"))
    assert len(main.context.pages) == 2

    # "Back office" from the call focuses the main window rather than opening another.
    call.click("#video-backoffice")
    assert len(main.context.pages) == 2
    call.click("#video-compact")  # expand
    expect(call.locator("body")).not_to_have_class(re.compile(r"\bvideo-compact\b"))
    call.click("#video-compact")  # and shrink again
    expect(call.locator("body")).to_have_class(re.compile(r"\bvideo-compact\b"))
    call.close()
    expect(main.locator("#video-return-pill")).to_be_hidden(timeout=CONNECT_MS)
