"""Help Center: articles from every plugin (a partner's too), search with the database's
own full-text search on SQLite and PostgreSQL (through its GIN index there), safe rendering,
context help for every menu entry, the tour's steps and its one-time offer, practice
articles, and video tutorials whose uploads are typed by their content."""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.types import HelpArticle
from tests.conftest import login

ADMIN = "admin"
PRACTICE_ADMIN = "practiceadmin"
CLINICIAN = "clinician1"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(WTF_CSRF_ENABLED=False)


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    login(client, username)
    return client


def add_article(client: FlaskClient, **fields: str) -> Any:
    data = {"audience": "clinician", "pages": "", **fields}
    return client.post("/help/practice-articles/add", data=data)


def result_keys(html: str) -> list[str]:
    block = html.split('id="help-results"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<li data-article="([^"]+)"', block)


def article_body(html: str) -> str:
    return html.split('id="help-article-body">', 1)[1].split("</article>", 1)[0]


def test_every_built_in_plugin_and_core_ship_articles(app: Flask) -> None:
    with app.test_request_context():
        from plugins.help_center import service

        articles = service.shipped_articles()
    sources = {a.source for a in articles}
    assert {"help_center", "waiting_room", "calendar", "consent", "video", "staff_chat"} <= sources
    assert "tools" in sources
    audiences = {who for a in articles for who in a.audience}
    assert audiences == {"clinician", "practice admin", "security admin"}
    faq = next(a for a in articles if a.slug == "enable-telehealth-for-a-user")
    assert "Enable telehealth" in faq.body and "Telehealth Back Office access" in faq.body


def test_search_finds_a_body_word_and_ranks_a_title_match_first(app: Flask) -> None:
    client = signed_in(app, PRACTICE_ADMIN)
    body_only = "Mentions quokka here. " + "A quokka, another quokka, quokka again. " * 20
    assert add_article(client, title="Front desk notes", slug="front-desk", body=body_only)
    assert add_article(client, title="Quokka intake", slug="quokka-intake", body="Short text.")
    page = client.get("/help/?q=quokka")
    assert page.status_code == 200
    assert result_keys(page.text) == ["practice/quokka-intake", "practice/front-desk"]
    # A word found only in the body of a shipped article ("Click a vacant time slot").
    assert "calendar/start-telehealth-session" in result_keys(client.get("/help/?q=vacant").text)
    # Every word must match, a word's start is enough, and stemming applies.
    assert result_keys(client.get("/help/?q=enabl+telehealth+user").text)[0] == (
        "help_center/enable-telehealth-for-a-user"
    )
    assert "help-no-results" in client.get("/help/?q=quokka+xylophone").text


def test_search_follows_edits_and_deletes(app: Flask) -> None:
    client = signed_in(app, PRACTICE_ADMIN)
    add_article(client, title="Parking", slug="parking", body="Visitors use lot wombat.")
    assert result_keys(client.get("/help/?q=wombat").text) == ["practice/parking"]
    with app.app_context():
        from core.database import db
        from plugins.help_center.models import PracticeArticle

        pk = db.session.scalar(select(PracticeArticle.id).where(PracticeArticle.slug == "parking"))
    client.post(
        f"/help/practice-articles/edit/{pk}",
        data={"title": "Parking", "slug": "parking", "audience": "clinician", "body": "Lot B."},
    )
    assert "help-no-results" in client.get("/help/?q=wombat").text
    assert result_keys(client.get("/help/?q=lot").text)[:1] == ["practice/parking"]
    client.post(f"/help/practice-articles/delete/{pk}")
    assert "practice/parking" not in client.get("/help/?q=lot").text


def test_bad_searches_get_a_clear_answer(app: Flask) -> None:
    client = signed_in(app, CLINICIAN)
    too_long = client.get("/help/?q=" + "x" * 201)
    assert too_long.status_code == 400 and "at most 200" in too_long.json["error"]
    for query in ('"', "*", "title:", "AND OR NOT", "()", "-", "NEAR(a b)", "ünïcödé"):
        assert client.get("/help/", query_string={"q": query}).status_code == 200, query
    assert client.get("/help/", query_string={"q": "a\x00b"}).status_code == 400  # the host's guard


def test_a_script_in_an_article_is_stripped(app: Flask) -> None:
    client = signed_in(app, PRACTICE_ADMIN)
    body = (
        "Hello **world**\n\n<script>window.pwned = 1</script>\n\n"
        '<img src="x" onerror="window.pwned = 2">\n\n[click](javascript:alert(1))\n\n'
        '<a href="https://example.org" onclick="evil()">safe link</a>\n'
    )
    add_article(client, title="Unsafe", slug="unsafe", body=body)
    page = client.get("/help/articles/practice/unsafe")
    assert page.status_code == 200
    html = article_body(page.text)
    assert "<strong>world</strong>" in html
    assert "<script" not in html and "window.pwned = 1" not in html
    assert "onerror" not in html and "onclick" not in html and 'href="javascript:' not in html
    assert 'href="https://example.org"' in html


def test_practice_articles_are_validated(app: Flask) -> None:
    client = signed_in(app, PRACTICE_ADMIN)
    page = add_article(client, title="X", slug="Bad Slug!", body="b", audience="everyone")
    assert "lower-case letters" in page.text and "Name one or more of" in page.text
    add_article(client, title="One", slug="one", body="b")
    assert "already uses this name" in add_article(client, title="Two", slug="one", body="b").text
    with app.app_context():
        from core.database import db
        from plugins.help_center.models import PracticeArticle

        assert db.session.scalars(select(PracticeArticle.slug)).all() == ["one"]


def test_only_practice_admins_write_articles(app: Flask) -> None:
    clinician = signed_in(app, CLINICIAN)
    assert clinician.get("/help/").status_code == 200
    denied = add_article(clinician, title="Nope", slug="nope", body="b")
    assert denied.status_code in {302, 403}
    assert "practice/nope" not in clinician.get("/help/").text


def test_context_help_resolves_for_every_menu_entry(app: Flask) -> None:
    """Each page of the menu carries the top bar's "?", and it opens an article."""
    client = signed_in(app, ADMIN)
    with app.test_request_context():
        entries = [
            (section.name, item.name, item.get_url())
            for section in app.extensions["appbuilder"].menu.get_list()
            for item in (section.childs or [section])
            if item.name != "-"
        ]
    assert len(entries) > 15
    with app.test_request_context():
        from plugins.help_center import service

        adapter = app.url_map.bind("localhost")
        unnamed = [
            url
            for _section, _name, url in entries
            if service.context_article(adapter.match(url)[0], url, owner_fallback=False) is None
        ]
    assert unnamed == [], "menu pages that no article names (by endpoint or path)"
    missing: list[str] = []
    # Settings > Logout is a menu entry too: opening it would end the session it checks with.
    pages = [(s, n, url) for s, n, url in entries if not url.startswith("/logout")]
    assert len(pages) == len(entries) - 1
    for section, name, url in [("Back Office", "Back Office", "/"), *pages]:
        page = client.get(url)
        found = re.search(r'id="bo-help" href="([^"]+)"', page.text)
        if page.status_code != 200 or found is None:
            missing.append(f"{section} / {name} ({url}): {page.status_code}, no ? in the top bar")
            continue
        target = client.get(found.group(1).replace("&amp;", "&"))
        location = target.headers.get("Location", "")
        if target.status_code != 302 or "/help/articles/" not in location:
            missing.append(
                f"{section} / {name} ({url}): ? leads to {location or target.status_code}"
            )
        elif client.get(location).status_code != 200:
            missing.append(f"{section} / {name} ({url}): {location} does not open")
    assert missing == []


def test_context_help_prefers_the_page_and_falls_back_to_the_index(app: Flask) -> None:
    client = signed_in(app, CLINICIAN)
    page = client.get("/help/context", query_string={"view": "TelehealthUsersView.list"})
    assert page.headers["Location"].endswith(
        "/help/articles/help_center/enable-telehealth-for-a-user"
    )
    by_path = client.get("/help/context", query_string={"path": "/calendar/appointments/3"})
    assert by_path.headers["Location"].endswith("/help/articles/calendar/start-telehealth-session")
    owned = client.get("/help/context", query_string={"view": "CalendarView.feed_link"})
    assert owned.headers["Location"].endswith("/help/articles/calendar/start-telehealth-session")
    nowhere = client.get("/help/context", query_string={"view": "Nope.nope", "path": "/zzz"})
    assert "missing=1" in nowhere.headers["Location"]
    assert "There is no article for that page" in client.get(nowhere.headers["Location"]).text


def test_a_practice_article_can_claim_a_page(app: Flask) -> None:
    client = signed_in(app, PRACTICE_ADMIN)
    add_article(client, title="Our chat rules", slug="chat-rules", body="Be kind.", pages="/chat/")
    found = client.get(
        "/help/context", query_string={"view": "StaffChatView.index", "path": "/chat/"}
    )
    # The shipped article names the endpoint, which wins over a path prefix.
    assert found.headers["Location"].endswith("/help/articles/staff_chat/staff-chat")
    by_name = client.get("/help/context", query_string={"path": "/chat/x"})
    assert by_name.headers["Location"].endswith("/help/articles/practice/chat-rules")


def test_a_disabled_plugin_takes_its_articles_and_steps_away(app: Flask) -> None:
    client = signed_in(app, ADMIN)
    assert client.get("/help/articles/calendar/calendar").status_code == 200
    with app.test_request_context():
        from core.app import set_plugin_enabled

        set_plugin_enabled("calendar", False, actor="test")
    assert client.get("/help/articles/calendar/calendar").status_code == 404
    assert "calendar/" not in "".join(result_keys(client.get("/help/?q=appointment").text))
    steps = client.get("/help/tour/steps").json["steps"]
    assert steps and not any(s["plugin"] == "calendar" for s in steps)


def test_partner_plugin_article_and_tour_step_appear(
    partner_plugins: Path, make_app: Callable[..., Flask]
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    client = signed_in(app, ADMIN)
    assert "partner_hello/partner-hello" in client.get("/help/").text
    assert result_keys(client.get("/help/?q=zanzibar").text) == ["partner_hello/partner-hello"]
    article = client.get("/help/articles/partner_hello/partner-hello")
    assert article.status_code == 200 and "<strong>Hello</strong>" in article.text
    context = client.get("/help/context", query_string={"view": "HelloView.show"})
    assert context.headers["Location"].endswith("/help/articles/partner_hello/partner-hello")
    steps = client.get("/help/tour/steps").json["steps"]
    assert {
        "plugin": "partner_hello",
        "page": "/partner-hello/",
        "element": "#partner-hello",
    }.items() <= next(s for s in steps if s["plugin"] == "partner_hello").items()


def test_tour_steps_are_ordered_and_only_on_pages_the_user_may_open(app: Flask) -> None:
    admin = signed_in(app, ADMIN).get("/help/tour/steps").json["steps"]
    assert admin[0]["element"] == "#bo-nav" and admin[-1]["element"] == "#help-tour-start"
    plugins = {s["plugin"] for s in admin}
    assert {"waiting_room", "calendar", "consent", "video", "staff_chat"} <= plugins
    elements = {s["element"] for s in admin}
    assert {"#wr-table", "#wr-rows .wr-actions", "#staff-chat-form"} <= elements
    secadmin = signed_in(app, "secadmin").get("/help/tour/steps").json["steps"]
    assert not any(s["plugin"] == "waiting_room" for s in secadmin)


def test_the_tour_is_offered_once(app: Flask) -> None:
    client = signed_in(app, CLINICIAN)
    assert client.get("/help/tour/state").json == {"offer": True}
    assert client.post("/help/tour/offered").json == {"offer": False}
    assert client.post("/help/tour/offered").status_code == 200
    assert client.get("/help/tour/state").json == {"offer": False}
    assert signed_in(app, "frontdesk").get("/help/tour/state").json == {"offer": True}
    with app.app_context():
        from core.database import db
        from core.models import AuditEntry

        rows = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "help.tour_offered")
        )
        assert len(rows.all()) == 1


def test_video_tutorials_with_a_link_show_on_their_page(app: Flask) -> None:
    admin = signed_in(app, PRACTICE_ADMIN)
    bad = admin.post("/help/videos/add", data={"title": "Bad", "url": "javascript:alert(1)"})
    assert "http:// or https://" in bad.text
    empty = admin.post("/help/videos/add", data={"title": "Empty", "url": ""})
    assert "Give a link or upload" in empty.text
    admin.post(
        "/help/videos/add",
        data={
            "title": "Admitting patients",
            "url": "https://videos.example.org/admit",
            "page": "/waiting-room/",
            "position": "1",
            "description": "Two minutes.",
        },
    )
    clinician = signed_in(app, CLINICIAN)
    assert "Admitting patients" in clinician.get("/help/").text
    article = clinician.get("/help/articles/waiting_room/live-waiting-room").text
    assert 'href="https://videos.example.org/admit"' in article
    assert clinician.get("/help/videos/list/").status_code == 200
    assert clinician.post(
        "/help/videos/add", data={"title": "x", "url": "https://a.b/"}
    ).status_code in {302, 403}


def test_help_article_files_need_a_title_and_known_audiences(tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text(
        "---\ntitle: Fine\naudience: clinician, security admin\npages: A.b, /x/\n---\nBody\n"
    )
    (article,) = HelpArticle.from_folder(tmp_path)
    assert (article.slug, article.title, article.audience, article.pages) == (
        "ok",
        "Fine",
        ("clinician", "security admin"),
        ("A.b", "/x/"),
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.md").write_text("---\ntitle: X\naudience: patients\n---\nBody\n")
    with pytest.raises(ValueError, match="unknown audience"):
        HelpArticle.from_folder(bad)


# --- uploaded videos: minimal real headers, as filetype (and a browser) recognise them ------

#: An ``ftyp`` box (brand isom, compatible isom and mp41), then an empty ``free`` box.
MP4 = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 0x200) + b"isommp41"
MP4 += struct.pack(">I", 8) + b"free"
_EBML_FIELDS = (
    b"\x42\x86\x81\x01"  # EBMLVersion 1
    b"\x42\xf7\x81\x01"  # EBMLReadVersion 1
    b"\x42\xf2\x81\x04"  # EBMLMaxIDLength 4
    b"\x42\xf3\x81\x08"  # EBMLMaxSizeLength 8
    b"\x42\x82\x84webm"  # DocType "webm"
    b"\x42\x87\x81\x04"  # DocTypeVersion 4
    b"\x42\x85\x81\x02"  # DocTypeReadVersion 2
)
#: The EBML header of a WebM file, then a Segment of unknown size.
WEBM = b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(_EBML_FIELDS)]) + _EBML_FIELDS
WEBM += b"\x18\x53\x80\x67\x01" + b"\xff" * 7
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
WINDOWS_PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(50) + b"PE\x00\x00"
#: A QuickTime ``ftyp`` box (brand "qt  ").
MOV = struct.pack(">I", 20) + b"ftypqt  " + struct.pack(">I", 0x200) + b"qt  "
AVI = b"RIFF" + struct.pack("<I", 100) + b"AVI LIST" + bytes(20)


def ogg_page(first_packet: bytes) -> bytes:
    """The first page of an Ogg stream (beginning-of-stream flag, one segment)."""
    header = b"OggS\x00\x02" + bytes(8) + b"\x01\x00\x00\x00" + bytes(8)
    return header + b"\x01" + bytes([len(first_packet)]) + first_packet


OGG_THEORA = ogg_page(b"\x80theora\x03\x02\x01" + bytes(32))
OGG_VORBIS = ogg_page(b"\x01vorbis" + bytes(23))


def upload_video(client: FlaskClient, content: bytes, name: str, **fields: str) -> Any:
    data: dict[str, Any] = {"title": "A tutorial", **fields, "file": (io.BytesIO(content), name)}
    return client.post("/help/videos/add", data=data, content_type="multipart/form-data")


def stored_videos(app: Flask) -> list[tuple[str, str | None, str | None]]:
    with app.app_context():
        from core.database import db
        from plugins.help_center.models import VideoTutorial

        rows = db.session.scalars(select(VideoTutorial).order_by(VideoTutorial.id))
        return [(row.title, row.file, row.content_type) for row in rows]


def saved_files(app: Flask) -> list[Path]:
    return sorted(Path(app.config["UPLOAD_FOLDER"]).glob("*_sep_*"))


def test_video_tutorials_can_be_uploaded_files(app: Flask) -> None:
    admin = signed_in(app, PRACTICE_ADMIN)
    added = upload_video(admin, MP4, "calendar.mp4", title="Calendar basics", page="/calendar/")
    assert added.status_code == 302, added.text[:2000]
    clinician = signed_in(app, CLINICIAN)
    page = clinician.get("/help/articles/calendar/calendar").text
    found = re.search(r'href="(/help/videos/download/[^"]+)">Download the video', page)
    assert found, "the uploaded video is not offered on its page's article"
    download = clinician.get(found.group(1))
    assert download.status_code == 200 and download.data == MP4
    assert download.mimetype == "video/mp4"
    assert download.headers["Content-Disposition"] == "attachment; filename=calendar.mp4"


def test_a_video_is_typed_by_its_content_not_its_name(app: Flask) -> None:
    admin = signed_in(app, PRACTICE_ADMIN)
    assert upload_video(admin, WEBM, "welcome.mp4", title="Welcome").status_code == 302
    ((title, stored, content_type),) = stored_videos(app)
    assert (title, content_type) == ("Welcome", "video/webm")
    download = signed_in(app, CLINICIAN).get(f"/help/videos/download/{stored}")
    assert download.status_code == 200 and download.data == WEBM
    assert download.mimetype == "video/webm"
    assert download.headers["Content-Disposition"] == "attachment; filename=welcome.webm"
    # Only a tutorial's own file is served, whatever else the upload folder holds.
    (Path(app.config["UPLOAD_FOLDER"]) / "other_sep_x.mp4").write_bytes(MP4)
    assert signed_in(app, CLINICIAN).get("/help/videos/download/other_sep_x.mp4").status_code == 404


@pytest.mark.parametrize(
    ("content", "found"),
    [(PDF, "a PDF"), (WINDOWS_PROGRAM, "a Windows program")],
    ids=["pdf", "windows-program"],
)
def test_a_file_that_is_not_a_video_is_refused_whatever_its_name(
    app: Flask, content: bytes, found: str
) -> None:
    admin = signed_in(app, PRACTICE_ADMIN)
    refused = upload_video(admin, content, "intro.mp4", title="Intro")
    assert refused.status_code == 400
    assert f"intro.mp4 is not a video (it looks like {found})." in refused.text
    assert stored_videos(app) == [] and saved_files(app) == []


def test_the_video_check_names_what_it_found(app: Flask) -> None:
    from plugins.help_center import service

    def check(content: bytes, name: str = "clip.mp4") -> str:
        try:
            return service.check_video(io.BytesIO(content), name).content_type
        except service.VideoRefused as refused:
            return refused.message

    with app.app_context():
        assert check(OGG_THEORA, "clip.ogv") == "video/ogg"
        assert check(MOV, "clip.mov") == "video/quicktime"
        assert "clip.ogg is not a video (it looks like an Ogg audio file)" in check(
            OGG_VORBIS, "clip.ogg"
        )
        assert check(AVI) == "clip.mp4 is an AVI video, which browsers do not play: " + (
            "convert it to MP4 or WebM."
        )
        assert "no kind of file we recognise" in check(b"just some text")
        assert check(b"") == "clip.mp4 is empty."
        stream = io.BytesIO(b"before" + MP4)
        stream.seek(6)  # the check starts where the stream is, and leaves it there
        assert service.check_video(stream, "x.mp4").content_type == "video/mp4"
        assert stream.tell() == 6


class UnreadableBody(io.RawIOBase):
    """A request body of ``size`` bytes (the test client takes its Content-Length from
    seeking) that fails the test if anything reads it."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the upload's body was read")


def test_a_too_large_video_is_refused_before_its_body_is_read(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, HELP_VIDEO_MAX_MB=1)
    admin = signed_in(app, PRACTICE_ADMIN)
    declared = admin.post(
        "/help/videos/add",
        input_stream=UnreadableBody(50 * 1024 * 1024),
        content_type="multipart/form-data; boundary=x",
    )
    assert declared.status_code == 413
    assert "limit of 1 MB" in declared.text and 'id="help-video-refused"' in declared.text
    assert declared.headers["Connection"] == "close"
    # Just over the limit, within the room left for the form: refused once Werkzeug has
    # spooled it to disk, with the form shown again.
    over = upload_video(admin, MP4 + bytes(1024 * 1024), "long.mp4", title="Long")
    assert over.status_code == 400 and "limit of 1 MB" in over.text
    assert stored_videos(app) == [] and saved_files(app) == []
    assert upload_video(admin, MP4 + bytes(1000), "short.mp4", title="Short").status_code == 302
    assert [title for title, _file, _type in stored_videos(app)] == ["Short"]


# --- PostgreSQL's search index ---------------------------------------------------------------


def test_postgresql_search_uses_the_gin_index(app: Flask, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite searches through FTS5; the GIN index is PostgreSQL's")
    from sqlalchemy import event, text

    from core.database import db
    from plugins.help_center import service

    client = signed_in(app, PRACTICE_ADMIN)
    add_article(client, title="Front desk notes", slug="front-desk", body="A quokka. " * 30)
    add_article(client, title="Quokka intake", slug="quokka-intake", body="Short text.")
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, sql: str, params: Any, *_args: Any) -> None:
        if "to_tsquery" in sql:
            statements.append((sql, params))

    with app.test_request_context():
        event.listen(db.engine, "before_cursor_execute", remember)
        try:
            keys = [article.key for article in service.search("quokka")]
        finally:
            event.remove(db.engine, "before_cursor_execute", remember)
        ((sql, params),) = statements
        with db.engine.connect() as connection:
            definition = connection.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                {"name": "ix_help_center_search_document"},
            ).scalar_one()
            connection.exec_driver_sql("SET enable_seqscan = off")  # a tiny table otherwise
            plan = "\n".join(connection.exec_driver_sql("EXPLAIN " + sql, params).scalars())
    assert "USING gin" in definition and "'A'" in definition and "'B'" in definition
    assert "Index Scan on ix_help_center_search_document" in plan, plan
    assert "Seq Scan on help_center_search_entry" not in plan, plan
    assert keys[:2] == ["practice/quokka-intake", "practice/front-desk"]


def test_the_help_center_migrations_go_down_and_up(app: Flask, backend: str) -> None:
    """help_center_0002 (the GIN index, PostgreSQL only) and 0003 (a video's type) undo
    what they did; on SQLite the index migration does nothing."""
    from sqlalchemy import inspect

    from core import migrate
    from core.database import db

    def schema() -> tuple[set[str], set[str]]:
        inspector = inspect(db.engine)
        indexes = {ix["name"] for ix in inspector.get_indexes("help_center_search_entry")}
        columns = {column["name"] for column in inspector.get_columns("help_center_video")}
        return {str(name) for name in indexes}, columns

    with app.app_context():
        migrate.downgrade("help_center@help_center_0001")
        db.engine.dispose()
        indexes, columns = schema()
        assert "ix_help_center_search_document" not in indexes
        assert "content_type" not in columns
        migrate.upgrade()
        db.engine.dispose()
        indexes, columns = schema()
        assert ("ix_help_center_search_document" in indexes) == (backend == "postgresql")
        assert "content_type" in columns
        assert migrate.differences() == []


def test_a_practice_can_stop_offering_the_tour(make_app: Callable[..., Flask]) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, HELP_TOUR_OFFER=False)
    client = signed_in(app, CLINICIAN)
    assert client.get("/help/tour/state").json == {"offer": False}
    assert client.get("/help/tour/steps").json["steps"]  # still startable from Help Center
