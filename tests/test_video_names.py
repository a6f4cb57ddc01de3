"""Who is who in a call: a waiting-room patient appears by the name given at check-in.

The patient checks in through the waiting room's real form; its token opens the video
session of their entry, and the clinician sees that name in the participants and the chat.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from tests.test_video import Peer, peers  # noqa: F401 (peers is a fixture)


def check_in(app: Flask, name: str) -> dict[str, Any]:
    """What the patient's page does at /wait/<code>: open it, then send the form."""
    http = app.test_client()
    page = http.get("/wait/demo-practice")
    match = re.search(r'data-csrf="([^"]+)"', page.text)
    assert match, page.text[:300]
    answer = http.post(
        "/wait/demo-practice/enter", json={"name": name}, headers={"X-CSRFToken": match.group(1)}
    )
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.get_json()
    return data


def test_the_patient_is_named_as_at_check_in_for_staff(
    app: Flask,
    peers: Callable[..., Peer],  # noqa: F811
) -> None:
    arrival = check_in(app, "Morgan   Reyes")
    clinician = peers(username="clinician1")
    clinician.ok("waiting_room.admit", {"entry_id": arrival["entry_id"]})  # as on the dashboard
    opened = clinician.http.get(f"/video/entry/{arrival['entry_id']}")
    session_id = int(opened.headers["Location"].rsplit("/", 1)[1])
    clinician.ok("video.join", {"session_id": session_id})
    patient = peers(token=arrival["token"])
    joined = patient.ok("video.join", {"session_id": session_id})
    names = {p["kind"]: p["display_name"] for p in joined["participants"]}
    assert names["patient"] == "Morgan Reyes", names
    line = patient.ok("video.chat", {"session_id": session_id, "body": "Hello"})
    assert line["sender_name"] == "Morgan Reyes"
    [told] = clinician.received("video.chat")
    assert told["sender_name"] == "Morgan Reyes"
