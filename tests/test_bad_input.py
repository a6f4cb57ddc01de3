"""Bad input, swept over the whole app: every route and every Socket.IO event.

The project's bar: bad input gets a clear error (HTTP 4xx with a message, a Socket.IO
error ack), never a traceback, a hang or a lost record. Routes come from ``app.url_map``
and events from the Hub, so a new plugin route or event is swept with no change here.

Each test builds one app, sends every case, collects what went wrong and asserts once at
the end, so one run lists every failing route or event with what it was sent and where it
raised. ``HOST_EDGE_CASES`` keeps the requests that once broke the host itself (core and
the Flask-AppBuilder it embeds, now guarded by ``core/inputs.py``) as regression tests.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from core.realtime import NAMESPACES, socketio_of
from core.types import SocketEvent
from tests.conftest import login

pytestmark = pytest.mark.timeout(120)  # a hang is a failure too, and sooner than the suite's

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "admin"
ANONYMOUS = "anonymous"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Routes the sweep leaves alone, and why.
SKIPPED = {
    "static": "the host's files",
    "appbuilder.static": "Flask-AppBuilder's files",
    "BackOfficeAuthDBView.logout": "would end the sweep's own login",
}
SKIPPED_PREFIXES = ("plugin_static_",)  # plugins' files

# --- wrong values ---------------------------------------------------------------------------

MISSING_ID = "999999"
HUGE_NUMBER = "9" * 30  # beyond every integer column, even a 64-bit one
EXISTING_ID = "2"  # the demo practice has a record 2 of each kind (user 2 is not the admin)
GARBAGE = "not-a-real-value"
LONG = "x" * 3000
HUNDRED_KB = "x" * 100_000
NUL = "a\x00b"  # PostgreSQL refuses NUL in text
LONE_SURROGATE = "a\ud800b"  # what JSON.stringify sends for half an emoji; not encodable
UNICODE_DIGITS = "²³"  # str.isdigit() says yes, int() says no
FAR_PAST = "0001-01-01T00:00:00+14:00"  # before datetime.min once in UTC
FAR_FUTURE = "9999-12-31T23:59:59-14:00"  # after datetime.max once in UTC
NON_UTF8 = b"\xff\xfe\xc3\x28name=\xa0\xa1&\xed\xa0\x80"
ODD_PATH = quote("a\x00\xff", safe="")  # a NUL and a stray byte in a URL variable

# --- request bodies -------------------------------------------------------------------------

# Field names a body may carry: the ones the app's forms, JSON APIs and links read.
FIELD_NAMES = (
    *("id", "pk", "name", "title", "body", "notes", "subject", "reference", "action", "rowid"),
    *("client_id", "clinician_id", "provider_id", "user_id", "entry_id", "session_id"),
    *("start", "end", "date", "date_of_birth", "status", "contact_type", "scope", "view"),
    *("recurrence", "recurrence_count", "recurrence_until", "occurrence", "ticket", "token"),
    *("channel", "phone", "email", "decision", "signature_kind", "signature", "typed_name"),
    *("code", "enabled", "role", "rule", "username", "password", "first_name", "last_name"),
    *("refresh", "provider"),
)


@dataclass(frozen=True)
class Body:
    """One request body: what it is, its bytes and its content type."""

    label: str
    data: bytes
    content_type: str
    fields: dict[str, Any] | None = None  # what it was made of, when it is a mapping


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def json_body(label: str, value: Any) -> Body:
    mapping = value if isinstance(value, dict) else None
    return Body(label, json.dumps(value).encode(), JSON, mapping)


def form_body(label: str, values: dict[str, str]) -> Body:
    return Body(label, urlencode(values).encode(), FORM, values)


def every_field(value: Any) -> dict[str, Any]:
    return dict.fromkeys(FIELD_NAMES, value)


def with_credentials(body: Body, credentials: dict[str, str]) -> Body | None:
    """The same body with live credentials in place of garbage; ``None`` for raw bytes."""
    if body.fields is None:
        return None
    values = {**body.fields, **credentials}
    make = json_body if body.content_type == JSON else form_body
    return make(f"{body.label}, live credentials", values)


EMPTY_FORM = form_body("an empty form", {})
# Ordered so that bodies a page refuses come before ones it may accept (a guest link is
# used up by the first acceptable name).
BODIES = (
    Body("invalid JSON", b'{"name": "unterminated', JSON),
    json_body("a JSON array", [1, "two", None, {"three": 3}]),
    json_body("a JSON string", "just a string"),
    json_body("numbers where strings go", every_field(12345)),
    json_body("nested objects", every_field({"nested": {"deeper": [1]}})),
    json_body("nulls", every_field(None)),
    json_body("huge numbers", every_field(10**30)),
    json_body("NUL characters", every_field(NUL)),
    json_body("lone surrogates", every_field(LONE_SURROGATE)),
    json_body("100 kB strings", every_field(HUNDRED_KB)),
    json_body("strings where numbers go", every_field("not a number")),
    Body("non-UTF-8 JSON", NON_UTF8, JSON),
    EMPTY_FORM,
    form_body("a form of NUL characters", every_field(NUL)),
    form_body("a form of 100 kB strings", every_field(HUNDRED_KB)),
    form_body("a form of far dates", every_field(FAR_PAST) | {"end": FAR_FUTURE}),
    form_body("a form of negative numbers", every_field("-1")),
    form_body("a form of unicode digits", every_field(UNICODE_DIGITS)),
    form_body("a form of huge numbers", every_field(HUGE_NUMBER)),
    form_body("a form of garbage", every_field(GARBAGE)),
    Body("a non-UTF-8 form", NON_UTF8, FORM),
)

# --- query strings --------------------------------------------------------------------------

NUMBER_KEYS = ("page", "id", "pk", "client_id", "clinician_id", "user_id", "entry_id", "bytes")
TEXT_KEYS = ("view", "occurrence", "ticket", "code", "scope", "compact", "next", "token", "q")
PLAUSIBLE_DATES = ("2026-03-09T00:00", "2026-03-16T00:00", "2026-03-10")


def query(numbers: str, dates: tuple[str, str, str], text: str) -> dict[str, str]:
    start, end, date = dates
    return {
        **dict.fromkeys(NUMBER_KEYS, numbers),
        **{"start": start, "end": end, "date": date},
        **dict.fromkeys(TEXT_KEYS, text),
    }


QUERIES = {
    "bogus": query("abc", ("notadate", "notadate", "notadate"), GARBAGE) | {"page": "-1"},
    "huge numbers": query(HUGE_NUMBER, PLAUSIBLE_DATES, HUGE_NUMBER),
    "unicode digits": query(UNICODE_DIGITS, PLAUSIBLE_DATES, UNICODE_DIGITS),
    "far dates": query("-1", (FAR_PAST, FAR_FUTURE, "0001-01-01"), ""),
    "NUL characters and long strings": query(NUL + LONG, (NUL, LONG, NUL), NUL + LONG),
}

# --- query keys that Flask-AppBuilder and url_for read themselves ---------------------------

# Sent to every route: url_for's own arguments (FAB's list pages rebuild their links as
# url_for(endpoint, **request.args)), FAB's page keys inside other keys (it finds them with
# re.findall("page_(.*)", key)), and the sort and paging arguments of FAB's REST APIs.
ODD_QUERIES: dict[str, dict[str, str]] = {
    "_method": {"_method": GARBAGE},
    "an empty _method": {"_method": ""},
    "endpoint": {"endpoint": GARBAGE},
    "_scheme alone": {"_scheme": "javascript"},
    "_external and _scheme": {"_external": "1", "_scheme": "javascript"},
    "_anchor": {"_anchor": GARBAGE},
    "a page key inside a key": {"homepage_x": GARBAGE},
    "a psize key inside a key": {"my_psize_x": GARBAGE},
    "REST sort arguments": {"order_column": "no_such_column", "order_direction": "sideways"},
    "REST rison": {"q": "(order_column:no_such_column,order_direction:up,page:-1)"},
}


def fab_view_of(app: Flask, endpoint: str) -> Any:
    """The Flask-AppBuilder model view (one with a datamodel) serving ``endpoint``."""
    name = endpoint.rpartition(".")[0]
    views = app.extensions["appbuilder"].baseviews
    return next((v for v in views if v.endpoint == name and hasattr(v, "datamodel")), None)


def sort_queries(listed: Any) -> dict[str, dict[str, str]]:
    """Sorting one list (a page's own or a related one it embeds) by what FAB offers and
    by what it does not, and paging it oddly."""
    name = type(listed).__name__
    sort_by = ("no_such_column", "__class__", *(listed.order_columns or ()))
    return {
        f"page -1 of {name}": {f"page_{name}": "-1"},
        f"page size {GARBAGE} of {name}": {f"psize_{name}": GARBAGE},
        f"a sort of {name} without a direction": {f"_oc_{name}": "no_such_column"},
        **{
            f"{name} sorted by {column}": {f"_oc_{name}": column, f"_od_{name}": "desc"}
            for column in sort_by
        },
    }


def filter_queries(view: Any) -> dict[str, dict[str, str]]:
    """For each searchable column: the filter index just past its filters (FAB reads one
    digit), and a garbage and a huge value for its first two filters."""
    queries: dict[str, dict[str, str]] = {}
    for column, filters in view._filters.get_search_filters().items():
        if len(filters) <= 9:
            past = f"_flt_{len(filters)}_{column}"
            queries[f"filter {len(filters)} of {column}"] = {past: GARBAGE}
        for index in range(min(2, len(filters))):
            for label, value in (("garbage", GARBAGE), ("a huge number", HUGE_NUMBER)):
                key = f"_flt_{index}_{column}"
                queries[f"{label} for filter {index} of {column}"] = {key: value}
    return queries


def fab_queries(app: Flask, rule: Rule) -> dict[str, dict[str, str]]:
    """The odd keys for every route, and those naming the route's own FAB view."""
    view = fab_view_of(app, rule.endpoint)
    if view is None:
        return dict(ODD_QUERIES)
    queries = {**ODD_QUERIES, **filter_queries(view)}
    for listed in [view, *(getattr(view, "_related_views", None) or ())]:
        queries |= sort_queries(listed)
    return queries


# --- live values: what real links carry, so pages are swept past their link check ------------


@dataclass(frozen=True)
class LiveValues:
    """Valid URL variables by name (``token``, ``code``, ...) and valid credential fields."""

    arguments: dict[str, tuple[str, ...]]
    credentials: dict[str, str]


def open_a_video_session(client: FlaskClient) -> int:
    """The demo practice has no video session: open one (an id for payloads to name)."""
    response = client.post("/video/new", data={"client_id": "1"})
    assert response.status_code in {302, 303}, response.status_code
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def calendar_feed_key(client: FlaskClient) -> str:
    response = client.post("/calendar/feed-link", headers={"Accept": JSON})
    assert response.status_code == 200, response.status_code
    return str(response.get_json()["url"]).rsplit("/", 1)[1].removesuffix(".ics")


def link_tokens(app: Flask, session_id: int) -> tuple[str, ...]:
    """A link of each kind patients hold: a waiting-room invite (/join/), a guest
    invitation to the video session (/video/g/), a consent form in the portal
    (/portal/consent/), and last a patient token for the demo practice's first waiting
    patient and that session (/video/p/, the /patient socket, /join/away)."""
    from core.api import create_invite, new_patient_token
    from core.database import db
    from plugins.consent.models import ConsentRequest

    with app.test_request_context():
        sm = app.extensions["appbuilder"].sm
        admin, clinician = sm.find_user(username=ADMIN), sm.find_user(username="clinician1")
        quickvite = create_invite(
            "quickvite", source="tests", client_id=1, provider_id=clinician.id
        )
        guest = create_invite("guest", source="video", reference=f"video:{session_id}")
        portal = create_invite("portal", source="consent", client_id=1, provider_id=clinician.id)
        consent_request = ConsentRequest(
            client_id=1,
            clinician_id=admin.id,
            invite_id=portal.invite.id,
            form_version=1,
            channel="sms",
        )
        db.session.add(consent_request)
        db.session.commit()
        patient = new_patient_token(entry=1, video_session=session_id)
        return quickvite.token, guest.token, portal.token, patient


def start_ticket(app: Flask) -> str:
    """The calendar's signed hand-over to the consent screens, issued to the admin."""
    from core.database import db
    from plugins.calendar.models import Appointment
    from plugins.calendar.views import start_ticket as sign

    with app.test_request_context():
        appointment = db.session.get(Appointment, 1)
        assert appointment is not None
        return sign(appointment, app.extensions["appbuilder"].sm.find_user(username=ADMIN).id)


def live_values(app: Flask) -> LiveValues:
    admin = app.test_client()
    assert login(admin, ADMIN).status_code == 200
    session_id = open_a_video_session(admin)
    tokens = link_tokens(app, session_id)
    code = str(app.config["WAITING_ROOM_EXTERNAL_CODE"]).split(",")[0].strip()
    return LiveValues(
        arguments={"token": tokens, "code": (code,), "key": (calendar_feed_key(admin),)},
        credentials={"ticket": start_ticket(app), "token": tokens[-1]},
    )


# --- what went wrong ------------------------------------------------------------------------


def short_path(filename: str) -> str:
    path = Path(filename)
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return "/".join(path.parts[-3:])


def where_raised(exc: BaseException) -> str:
    """The innermost frame of the app's own code (core, plugins), and the innermost of all
    when that is elsewhere (a library)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if short_path(f.filename).startswith(("core/", "plugins/"))]
    innermost = f"{short_path(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"
    if not ours:
        return innermost
    own = f"{short_path(ours[-1].filename)}:{ours[-1].lineno}"
    return own if own == innermost else f"{own} (innermost: {innermost})"


def describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"raised {type(exc).__name__}: {text} at {where_raised(exc)}"


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} chars)"


def has_message(body: Any) -> bool:
    """A human-readable message: ``error`` or ``message`` (FAB's APIs nest them per field),
    or ``msg`` (Flask-JWT-Extended's, on the token-only API routes)."""
    if not isinstance(body, dict):
        return False
    found = body.get("error") or body.get("message") or body.get("msg")
    return isinstance(found, str | dict | list) and bool(found)


def response_problem(response: TestResponse) -> str | None:
    if response.status_code >= 500:
        return f"HTTP {response.status_code}: {response.get_data(as_text=True)[:200]!r}"
    if 400 <= response.status_code < 500 and response.is_json:
        body = response.get_json(silent=True)
        if not has_message(body):
            return f"HTTP {response.status_code} JSON without an error message: {short(body)}"
    return None


# --- defects of the host, which plugins cannot fix ------------------------------------------


@dataclass(frozen=True)
class HostEdgeCase:
    """A request that once made the host (core or Flask-AppBuilder) fail with a 500."""

    what: str
    identity: str
    method: str
    url: str
    body: Body | None = None
    backends: tuple[str, ...] = ("sqlite", "postgresql")


HOST_EDGE_CASES = {
    "fab-unknown-action": HostEdgeCase(
        "Flask-AppBuilder's ModelView.action / action_post (flask_appbuilder/views.py:298) "
        "call self.actions.get(name).func before any permission check: an unknown action "
        "name is an AttributeError (HTTP 500), even for anonymous users, on every ModelView "
        "(core's users, roles, permissions, view menus, groups, audit log; the consent, "
        "video and tools plugins' lists).",
        ANONYMOUS,
        "POST",
        "/users/action_post",
        form_body("an unknown action", {"action": "no-such-action", "rowid": "1"}),
    ),
    "json-bodies-on-forms": HostEdgeCase(
        "Flask-WTF reads a JSON body as the form (ImmutableMultiDict(request.get_json())): a "
        "JSON array or string raises in werkzeug/datastructures/structures.py:208, a number "
        "or list in a field raises in wtforms' validators (len(int)), on every FAB form: "
        "login (core/security.py:52), add/edit, reset password, user info (HTTP 500).",
        ADMIN,
        "POST",
        "/roles/add",
        json_body("a JSON array", [1, 2]),
    ),
    "core-login-json": HostEdgeCase(
        "core/security.py:55 BackOfficeAuthDBView.login does (form.username.data or '')"
        ".strip(): a JSON body with a number or an object for username makes it an int or "
        "dict, so AttributeError (HTTP 500) for anyone.",
        ANONYMOUS,
        "POST",
        "/login/",
        json_body("a number for username", {"username": 5, "password": 5}),
    ),
    "login-unstorable-text": HostEdgeCase(
        "A lone surrogate (any database) or a NUL (PostgreSQL) in the username reaches FAB's "
        "user lookup unchecked (find_user, flask_appbuilder/security/sqla/manager.py:366): "
        "via core/security.py:72 on /login/, and via BackOfficeSecurityManager.auth_user_db "
        "(core/security.py:157) on /api/v1/security/login, which FAB turns into "
        '{"message": "Fatal error"}: UnicodeEncodeError or psycopg2\'s ValueError, HTTP 500. '
        "(FAB's token API is no longer served: that URL is a 404 now.)",
        ANONYMOUS,
        "POST",
        "/api/v1/security/login",
        json_body(
            "a lone surrogate", {"username": LONE_SURROGATE, "password": "x", "provider": "db"}
        ),
    ),
    "audit-long-actor": HostEdgeCase(
        "core/audit.py:47 record() stores actor (String(100)) and target (String(200)) "
        "untruncated; a failed login audits the typed username as both (core/security.py:62), "
        "so a username over 100 characters is a DataError on PostgreSQL (HTTP 500) for anyone.",
        ANONYMOUS,
        "POST",
        "/login/",
        form_body("a 101-character username", {"username": "x" * 101, "password": "x"}),
        backends=("postgresql",),
    ),
    "group-rules-switch-nul": HostEdgeCase(
        "core/security.py:227 GroupRulesView.switch looks the posted role name up unchecked: "
        "a NUL in it is psycopg2's ValueError on PostgreSQL (HTTP 500).",
        ADMIN,
        "POST",
        "/security/group-rules/switch",
        form_body("a NUL in the role", {"role": NUL, "rule": "x"}),
        backends=("postgresql",),
    ),
    "fab-unique-validator": HostEdgeCase(
        "FAB's add form of users, roles and groups (core's AuditedUserView, AuditedRoleView "
        "and FAB's group view) runs its Unique validator's query with whatever the body "
        "held: an object (JSON) is a ProgrammingError on SQLite, a lone surrogate a "
        "UnicodeEncodeError, a NUL psycopg2's ValueError on PostgreSQL (HTTP 500).",
        ADMIN,
        "POST",
        "/roles/add",
        json_body("nested objects", {"name": {"nested": 1}}),
    ),
    "telehealth-switch-huge-id": HostEdgeCase(
        "core/security.py:199 TelehealthUsersView.switch passes the URL's user id to "
        "get_user_by_id unchecked: beyond 2**63 SQLite cannot bind it (OverflowError, HTTP "
        "500). Route converter <int:user_id> has no max.",
        ADMIN,
        "POST",
        f"/security/telehealth/{HUGE_NUMBER}",
        EMPTY_FORM,
        backends=("sqlite",),
    ),
    "fab-download-filename": HostEdgeCase(
        "FAB's ModelView.download/<filename> (flask_appbuilder/views.py:289) calls "
        "uuid_originalname (flask_appbuilder/filemanager.py:258), which splits the name on "
        "'_sep_' and takes [1]: a name without it is an IndexError (HTTP 500), on every "
        "ModelView.",
        ADMIN,
        "GET",
        "/users/download/no-such-file",
    ),
    "fab-page-args": HostEdgeCase(
        "FAB's list pages read page_<view> and psize_<view> with int(...) unchecked "
        "(get_page_args / get_page_size_args, flask_appbuilder/urltools.py:59 and :75): "
        "?page_UserDBModelView=abc is a ValueError (HTTP 500) on every ModelView list.",
        ADMIN,
        "GET",
        "/users/list/?page_UserDBModelView=abc",
    ),
    "fab-url-for-arguments": HostEdgeCase(
        "FAB's list pages rebuild their sort and page links as url_for(request.endpoint, "
        "**request.args) (link_order / link_page, flask_appbuilder/filters.py:67): a query "
        "key url_for takes for itself is a BuildError for ?_method=x and a TypeError for "
        "?endpoint=x (HTTP 500) on every ModelView list (users, audit log, templates...).",
        ADMIN,
        "GET",
        "/security/audit/list/?_method=x",
    ),
    "fab-filter-index": HostEdgeCase(
        "FAB's get_filter_args (flask_appbuilder/urltools.py:120) indexes a column's filters "
        "with the digit of _flt_<n>_<column> unchecked: ?_flt_5_roles=1 on the user list "
        "is an IndexError (HTTP 500); a 30-digit number for an integer column overflows "
        "SQLite, a boolean column's value is passed to PostgreSQL as text (DataError).",
        ADMIN,
        "GET",
        "/users/list/?_flt_5_roles=1",
    ),
    "fab-sort-column": HostEdgeCase(
        "FAB sorts a list (the page's own or a related one on a show page) by whatever "
        "_oc_<View> names once _od_<View> is asc or desc: an unknown name is a CompileError, "
        "__class__ or a Python property FAB itself lists as sortable an ArgumentError "
        "(HTTP 500); any other column, the password hash included, is sorted by.",
        ADMIN,
        "GET",
        "/roles/show/1?_oc_AuditedUserView=no_such_column&_od_AuditedUserView=asc",
    ),
    "fab-chart-group-by": HostEdgeCase(
        "FAB's UserStatsChartView.chart/<group_by> (flask_appbuilder/charts/views.py:197 "
        "and :202) does int(group_by) and indexes the group-by columns with it: a "
        "non-number is a ValueError, a number out of range an IndexError (HTTP 500).",
        ADMIN,
        "GET",
        "/userstatschartview/chart/999999",
    ),
}


def report(problems: list[str], what: str) -> str:
    return f"{len(problems)} {what}:\n" + "\n".join(problems)


# --- the HTTP sweep -------------------------------------------------------------------------


def swept_rules(app: Flask) -> list[Rule]:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in SKIPPED and not rule.endpoint.startswith(SKIPPED_PREFIXES)
    ]
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


def variable_pattern(argument: str) -> str:
    return rf"<(?:([a-z]+)(?:\([^)]*\))?:)?{argument}>"


def converter_of(rule: Rule, argument: str) -> str:
    match = re.search(variable_pattern(argument), rule.rule)
    return (match.group(1) if match else None) or "default"


def wrong_values_for(converter: str) -> tuple[str, ...]:
    """Plausible-but-wrong values of one URL variable, the likeliest first."""
    if converter == "int":
        return (MISSING_ID, HUGE_NUMBER, EXISTING_ID, GARBAGE)
    return (MISSING_ID, GARBAGE, LONG, ODD_PATH)


def fill(rule: Rule, values: dict[str, str]) -> str:
    url = rule.rule
    for argument, value in values.items():
        url = re.sub(variable_pattern(argument), lambda _match, v=value: v, url)
    return url


def urls_of(rule: Rule, live: LiveValues) -> tuple[list[str], list[str]]:
    """(wrong, live): the rule's URL with its variables filled with each kind of wrong
    value, and with each live value a real link carries for a variable of that name."""
    if not rule.arguments:
        return [rule.rule], []
    wrong = {a: wrong_values_for(converter_of(rule, a)) for a in rule.arguments}
    kinds = max(len(values) for values in wrong.values())
    wrong_urls = [
        fill(rule, {a: values[kind % len(values)] for a, values in wrong.items()})
        for kind in range(kinds)
    ]
    live_urls = [
        fill(rule, {**{a: values[0] for a, values in wrong.items()}, argument: value})
        for argument in rule.arguments
        for value in live.arguments.get(argument, ())
    ]
    return wrong_urls, live_urls


def unknown_fields(response: TestResponse | None) -> set[str]:
    """The fields a JSON answer calls unknown (marshmallow's "Unknown field." per field)."""
    found: set[str] = set()
    pending = [response.get_json(silent=True) if response is not None else None]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, list) and "Unknown field." in value:
                    found.add(str(key))
                pending.append(value)
    return found


def reached(response: TestResponse) -> bool:
    """Whether a request got to the view itself (not refused, not a URL naming nothing)."""
    if response.status_code in {401, 403, 404, 405}:
        return False
    location = response.headers.get("Location", "")
    return not (response.status_code in {301, 302, 303} and "/login/" in location)


@dataclass
class Sweep:
    """Sends requests as one identity and collects every problem."""

    client: FlaskClient
    identity: str
    live: LiveValues
    problems: list[str] = field(default_factory=list)

    def send(self, method: str, url: str, body: Body | None = None) -> TestResponse | None:
        label = f"{self.identity} {method} {url[:90]}" + (f" [{body.label}]" if body else "")
        try:
            response = self.client.open(
                url,
                method=method,
                data=body.data if body else None,
                content_type=body.content_type if body else None,
            )
        except Exception as exc:
            self.note(f"{label}: {describe(exc)}")
            return None
        problem = response_problem(response)
        if problem:
            self.note(f"{label}: {problem}")
        return response

    def note(self, problem: str) -> None:
        self.problems.append(problem)

    def send_bodies(self, method: str, url: str) -> None:
        """An empty form first; a URL that gets to its view gets every body, one field at
        a time where a JSON API refuses the fields it does not know, and the bodies again
        with live credentials when those change what the view answers."""
        probe = self.send(method, url, EMPTY_FORM)
        if probe is None or not reached(probe):
            return
        known: set[str] = set(FIELD_NAMES)
        for body in BODIES:
            known -= unknown_fields(self.send(method, url, body))
        if known != set(FIELD_NAMES):
            self.send_one_field_at_a_time(method, url, sorted(known))
        if self.reads_credentials(method, url, probe):
            for body in BODIES:
                filled = with_credentials(body, self.live.credentials)
                if filled is not None:
                    self.send(method, url, filled)

    def send_one_field_at_a_time(self, method: str, url: str, names: list[str]) -> None:
        for body in BODIES:
            if body.content_type == JSON and body.fields is not None:
                for name in names:
                    self.send(
                        method, url, json_body(f"{name} of {body.label}", {name: body.fields[name]})
                    )

    def reads_credentials(self, method: str, url: str, probe: TestResponse) -> bool:
        credentials = with_credentials(EMPTY_FORM, self.live.credentials)
        answer = self.send(method, url, credentials)
        return answer is not None and answer.status_code != probe.status_code

    def send_queries(self, url: str) -> None:
        live_query = QUERIES["bogus"] | self.live.credentials
        for name, args in [*QUERIES.items(), ("live credentials", live_query)]:
            self.send("GET", f"{url}?{urlencode(args)}#{name.replace(' ', '-')}")

    def still_signed_in(self, after: str) -> None:
        """The sweep is only worth something while the admin stays signed in."""
        if self.identity != ADMIN:
            return
        if self.client.post("/session/keepalive").status_code != 200:
            self.problems.append(f"{after} ended the admin's session")
            login(self.client, ADMIN)


def sweep_as(make_app: Callable[..., Flask], identity: str) -> tuple[Flask, Sweep]:
    """A fresh app (CSRF off, so bodies reach the views), its live values, a client."""
    app = make_app(WTF_CSRF_ENABLED=False)
    live = live_values(app)
    client = app.test_client()
    if identity == ADMIN:
        assert login(client, ADMIN).status_code == 200
        assert client.post("/session/keepalive").status_code == 200
    return app, Sweep(client, identity, live)


def methods_of(rule: Rule, wanted: frozenset[str]) -> list[str]:
    return sorted(wanted & (rule.methods or set()))


@pytest.mark.parametrize("identity", [ADMIN, ANONYMOUS])
def test_write_routes_answer_bad_bodies_with_a_4xx(
    make_app: Callable[..., Flask], identity: str
) -> None:
    app, sweep = sweep_as(make_app, identity)
    writes = [r for r in swept_rules(app) if methods_of(r, WRITE_METHODS)]
    assert writes, "the app has routes that take POST"
    for rule in writes:
        wrong, live = urls_of(rule, sweep.live)
        for method in methods_of(rule, WRITE_METHODS):
            for url in [*wrong, *live]:
                sweep.send_bodies(method, url)
        sweep.still_signed_in(rule.rule)
    assert sweep.problems == [], report(sweep.problems, "bad bodies mishandled")


@pytest.mark.parametrize("identity", [ADMIN, ANONYMOUS])
def test_read_routes_answer_bogus_query_args_with_a_4xx(
    make_app: Callable[..., Flask], identity: str
) -> None:
    app, sweep = sweep_as(make_app, identity)
    for rule in swept_rules(app):
        if not methods_of(rule, frozenset({"GET"})):
            continue
        (first, *others), live = urls_of(rule, sweep.live)
        for url in [first, *live]:
            sweep.send_queries(url)
        for url in others:
            sweep.send("GET", url)
        sweep.still_signed_in(rule.rule)
    assert sweep.problems == [], report(sweep.problems, "bogus query args mishandled")


@pytest.mark.parametrize("identity", [ADMIN, ANONYMOUS])
def test_read_routes_answer_query_keys_fab_reads_with_a_4xx(
    make_app: Callable[..., Flask], identity: str
) -> None:
    """Every GET route; a FAB view's with a missing and with an existing record too."""
    app, sweep = sweep_as(make_app, identity)
    for rule in swept_rules(app):
        if not methods_of(rule, frozenset({"GET"})):
            continue
        (first, *_others), _live = urls_of(rule, sweep.live)
        urls = [first]
        if rule.arguments and fab_view_of(app, rule.endpoint) is not None:
            urls.append(fill(rule, dict.fromkeys(rule.arguments, EXISTING_ID)))  # show pages
        for url in urls:
            for name, args in fab_queries(app, rule).items():
                sweep.send("GET", f"{url}?{urlencode(args)}#{name.replace(' ', '-')}")
        sweep.still_signed_in(rule.rule)
    assert sweep.problems == [], report(sweep.problems, "query keys FAB reads mishandled")


def test_posts_without_a_csrf_token_are_refused_cleanly(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    assert login(client, ADMIN).status_code == 200
    sweep = Sweep(client, ADMIN, LiveValues({}, {}))
    for rule in swept_rules(app):
        wrong, _live = urls_of(rule, sweep.live)
        for method in methods_of(rule, WRITE_METHODS):
            sweep.send(method, wrong[0], EMPTY_FORM)
    assert sweep.problems == [], report(sweep.problems, "POSTs without a CSRF token mishandled")


def test_requests_that_once_broke_the_host_answer_4xx(
    make_app: Callable[..., Flask], backend: str
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    admin, anonymous = app.test_client(), app.test_client()
    assert login(admin, ADMIN).status_code == 200
    sweeps = {
        ADMIN: Sweep(admin, ADMIN, LiveValues({}, {})),
        ANONYMOUS: Sweep(anonymous, ANONYMOUS, LiveValues({}, {})),
    }
    statuses = {}
    for name, case in HOST_EDGE_CASES.items():
        if backend in case.backends:
            response = sweeps[case.identity].send(case.method, case.url, case.body)
            statuses[name] = None if response is None else response.status_code
    problems = [p for sweep in sweeps.values() for p in sweep.problems]
    assert problems == [], report(problems, "host edge cases mishandled")
    # A failed login re-shows the form (200); everything else is refused with a 4xx.
    assert all(status is not None and status < 500 for status in statuses.values()), statuses
    assert login(admin, ADMIN).status_code == 200


# --- the Socket.IO sweep --------------------------------------------------------------------

INTERNAL = "internal_error"
# Strings that pass a field's own validator, so that a baseline payload reaches the handler.
PLAUSIBLE_STRINGS = {"channel": "practice", "scope": "all", "to": "staff:1"}
# Events whose baseline ends what the others act on (a visit, a call): they go last.
ENDING_ACTIONS = frozenset({"leave", "end", "remove", "no_show"})

WRONG_TYPES: tuple[Any, ...] = (None, True, [1, 2], {"nested": {"deeper": 1}}, 1.5)
WHOLE_PAYLOADS: tuple[Any, ...] = (
    None,
    [],
    [1, "two"],
    "a string",
    5,
    True,
    {},
    {"unknown_field": 1},
    HUNDRED_KB,
    {"entry_id": "x", "body": 5, "session_id": {"a": 1}, "channel": None, "to": []},
)


def wrong_values(field_: fields.Field) -> tuple[Any, ...]:
    """Values of the field's own type that no sane client sends, then other types."""
    if isinstance(field_, fields.Integer):
        return (0, -1, 999_999, 2**31, 2**63, 10**30, "x", "1", *WRONG_TYPES)
    if isinstance(field_, fields.Float):
        return (-1.0, 1e308, 10**30, "fast", *WRONG_TYPES)
    if isinstance(field_, fields.Boolean):
        return ("maybe", 2, *WRONG_TYPES)
    if isinstance(field_, fields.Nested):
        return ({}, {"type": None}, "x", 5, *WRONG_TYPES)
    if isinstance(field_, fields.String):
        texts = ("", " ", NUL, LONE_SURROGATE, HUNDRED_KB, "dm:1-9999999999", "staff:999999")
        return (*texts, 5, *WRONG_TYPES)
    return (GARBAGE, 5, 10**30, NUL, *WRONG_TYPES)


def plausible_value(name: str, field_: fields.Field) -> Any:
    for validator in field_.validators:
        if isinstance(validator, validate.OneOf):
            return next(iter(validator.choices))
    if isinstance(field_, fields.Nested):
        return baseline_payload(type(field_.schema))
    if isinstance(field_, fields.Boolean):
        return True
    if isinstance(field_, fields.Integer):
        return 1
    if isinstance(field_, fields.Float):
        return 1.0
    if isinstance(field_, fields.Date):
        return "2026-03-10"
    return PLAUSIBLE_STRINGS.get(name, "hello")


def loads(schema: type[Schema], payload: dict[str, Any]) -> bool:
    try:
        schema().load(payload)
    except ValidationError:
        return False
    return True


def baseline_payload(schema: type[Schema]) -> dict[str, Any]:
    """A payload the schema accepts: its required fields, plus the first optional field
    that makes it valid when the required ones alone are not."""
    declared = schema().fields
    required = {name: plausible_value(name, f) for name, f in declared.items() if f.required}
    if loads(schema, required):
        return required
    for name, field_ in declared.items():
        candidate = {**required, name: plausible_value(name, field_)}
        if not field_.required and loads(schema, candidate):
            return candidate
    return required


def payloads_for(event: SocketEvent | None) -> Iterator[tuple[str, Any]]:
    """(label, payload): garbage for the whole payload, a valid baseline, every field
    wrong at once, then each field of the baseline replaced by every wrong value."""
    for payload in WHOLE_PAYLOADS:
        yield f"payload {short(payload)}", payload
    if event is None:
        return
    declared = event.schema().fields
    baseline = baseline_payload(event.schema)
    yield f"baseline {short(baseline)}", baseline
    all_wrong = {n: 5 if isinstance(f, fields.String) else "x" for n, f in declared.items()}
    yield f"every field wrong {short(all_wrong)}", all_wrong
    for name, field_ in declared.items():
        for value in wrong_values(field_):
            yield f"{name}={short(value)}", {**baseline, name: value}


def ack_problem(ack: Any) -> str | None:
    if not isinstance(ack, dict):
        return f"the ack is not an object: {short(ack)}"
    if ack.get("ok") is True:
        return None
    error = ack.get("error")
    if ack.get("ok") is not False or not isinstance(error, dict):
        return f"the ack is neither ok nor an error: {short(ack)}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return f"the error has no message: {short(ack)}"
    if error.get("code") == INTERNAL:
        return "internal_error (an unhandled exception)"
    return None


class LogCatcher(logging.Handler):
    """The exceptions the Hub logs when it answers internal_error."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def last_exception(self) -> str:
        for record in reversed(self.records):
            if record.exc_info and record.exc_info[1] is not None:
                return describe(record.exc_info[1])
        return "no exception logged"


@pytest.fixture
def hub_log() -> Iterator[LogCatcher]:
    catcher = LogCatcher()
    logger = logging.getLogger("core.realtime")
    logger.addHandler(catcher)
    yield catcher
    logger.removeHandler(catcher)


def ends_something(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in ENDING_ACTIONS


def hub_events(app: Flask, namespace: str) -> list[tuple[str, SocketEvent | None]]:
    """Every event of the namespace (the host's own staff event too), enders last."""
    hub = app.extensions["backoffice.hub"]
    found: list[tuple[str, SocketEvent | None]] = [
        (name, event) for (ns, name), (_plugin, event) in hub.events.items() if ns == namespace
    ]
    if namespace == NAMESPACES["staff"]:
        found.append(("core.use_here", None))
    return sorted(found, key=lambda item: (ends_something(item[0]), item[0]))


@dataclass
class SocketSweep:
    """Emits every payload of every event on one socket and collects every problem."""

    sio: Any
    namespace: str
    who: str
    log: LogCatcher
    problems: list[str] = field(default_factory=list)

    def emit_all(self, name: str, event: SocketEvent | None) -> None:
        for label, payload in payloads_for(event):
            self.emit(name, label, payload)
        self.sio.get_received(self.namespace)  # drop the pushes the sweep caused
        if not self.sio.is_connected(self.namespace):
            self.problems.append(f"{self.who} {name}: the socket was disconnected")

    def emit(self, name: str, label: str, payload: Any) -> None:
        self.log.records.clear()
        try:
            ack = self.sio.emit(name, payload, namespace=self.namespace, callback=True)
        except Exception as exc:
            self.problems.append(f"{self.who} {name} [{label}]: {describe(exc)}")
            return
        problem = ack_problem(ack)
        if problem:
            cause = f"; {self.log.last_exception()}" if INTERNAL in problem else ""
            self.problems.append(f"{self.who} {name} [{label}]: {problem}{cause}")


def staff_socket(app: Flask) -> Any:
    client = app.test_client()
    assert login(client, ADMIN).status_code == 200
    sio = socketio_of(app).test_client(app, namespace=NAMESPACES["staff"], flask_test_client=client)
    assert sio.is_connected(NAMESPACES["staff"])
    return sio


def patient_socket(app: Flask, token: str) -> Any:
    sio = socketio_of(app).test_client(
        app,
        namespace=NAMESPACES["patient"],
        flask_test_client=app.test_client(),
        auth={"token": token},
    )
    assert sio.is_connected(NAMESPACES["patient"])
    return sio


def bare_patient_token(app: Flask) -> str:
    from core.api import new_patient_token

    with app.app_context():
        return new_patient_token(kind="test")


def admin_grants(app: Flask) -> set[tuple[str, str]]:
    with app.app_context():
        role = app.extensions["appbuilder"].sm.find_role("Admin")
        return {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}


def test_staff_events_answer_garbage_with_an_error_ack(
    make_app: Callable[..., Flask], hub_log: LogCatcher
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    live_values(app)  # a video session (id 1) for the baselines to name
    namespace = NAMESPACES["staff"]
    events = hub_events(app, namespace)
    grants = admin_grants(app)
    ungranted = [n for n, e in events if e and e.permission and e.permission not in grants]
    assert ungranted == [], f"the admin would be stopped at the permission check: {ungranted}"
    sweep = SocketSweep(staff_socket(app), namespace, "staff", hub_log)
    for name, event in events:
        sweep.emit_all(name, event)
    assert sweep.problems == [], report(sweep.problems, "staff events mishandled garbage")


@pytest.mark.parametrize("patient", ["bare-token", "checked-in"])
def test_patient_events_answer_garbage_with_an_error_ack(
    make_app: Callable[..., Flask], hub_log: LogCatcher, patient: str
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    live = live_values(app)
    token = live.credentials["token"] if patient == "checked-in" else bare_patient_token(app)
    namespace = NAMESPACES["patient"]
    sweep = SocketSweep(patient_socket(app, token), namespace, patient, hub_log)
    for name, event in hub_events(app, namespace):
        sweep.emit_all(name, event)
    assert sweep.problems == [], report(sweep.problems, "patient events mishandled garbage")
