"""The Help Center's rules: gathering articles from every plugin, rendering them safely,
searching them with the database's own full-text search, context help, the tour, and what
an uploaded video tutorial really is."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import IO, Any

import filetype
import nh3
from flask import current_app, url_for
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from core.api import (
    AUDIENCES,
    HelpArticle,
    TourStep,
    db_session,
    file_type_words,
    hook_results,
    is_plugin_enabled,
    plugin_of_endpoint,
    setting,
)
from plugins.help_center.models import (
    PG_SEARCH_DOCUMENT,
    PracticeArticle,
    SearchEntry,
    SearchIndexState,
    VideoTutorial,
)

PRACTICE = "practice"  # the source of articles a practice admin wrote
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
MAX_QUERY = 200
MAX_RESULTS = 50
_WORD = re.compile(r"\w+", re.UNICODE)
_MARKDOWN = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")
_TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("ul", "ol", "li", "strong", "em", "a", "img", "table", "thead", "tbody", "tr", "th", "td"),
}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}


@dataclass(frozen=True)
class Article:
    """An article as the Help Center shows it, from a plugin or from the practice."""

    source: str
    slug: str
    title: str
    body: str
    audience: tuple[str, ...]
    pages: tuple[str, ...]
    order: int = 100

    @property
    def key(self) -> str:
        return f"{self.source}/{self.slug}"


# --- gathering ----------------------------------------------------------------------------


def shipped_articles() -> list[Article]:
    """Articles of every enabled plugin, through ``backoffice_help_articles``."""
    found = hook_results("backoffice_help_articles")
    return [
        _shipped(name, item)
        for name, items in found
        for item in items or []
        if isinstance(item, HelpArticle)
    ]


def _shipped(source: str, item: HelpArticle) -> Article:
    if not isinstance(item, HelpArticle):
        raise TypeError(f"backoffice_help_articles of {source} gave {item!r}, not a HelpArticle")
    return Article(source, item.slug, item.title, item.body, item.audience, item.pages, item.order)


def practice_articles() -> list[Article]:
    rows = db_session().scalars(select(PracticeArticle).order_by(PracticeArticle.title))
    return [_from_row(row) for row in rows]


def _from_row(row: PracticeArticle) -> Article:
    return Article(
        PRACTICE,
        row.slug,
        row.title,
        row.body,
        split_list(row.audience),
        split_list(row.pages),
        order=50,
    )


def split_list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def all_articles() -> list[Article]:
    return sorted(
        [*shipped_articles(), *practice_articles()], key=lambda a: (a.order, a.title.lower())
    )


def find_article(source: str, slug: str) -> Article | None:
    if source == PRACTICE:
        row = db_session().scalar(select(PracticeArticle).where(PracticeArticle.slug == slug))
        return _from_row(row) if row is not None else None
    if not is_plugin_enabled(source):
        return None
    return next((a for a in shipped_articles() if a.source == source and a.slug == slug), None)


def by_audience(articles: list[Article]) -> list[tuple[str, list[Article]]]:
    return [(who, [a for a in articles if who in a.audience]) for who in AUDIENCES]


def videos_for(article: Article) -> list[VideoTutorial]:
    """The practice's videos that belong to a page this article documents."""
    if not article.pages:
        return []
    query = select(VideoTutorial).where(VideoTutorial.page.in_(article.pages))
    return list(
        db_session().scalars(
            query.order_by(VideoTutorial.position.nulls_last(), VideoTutorial.title)
        )
    )


# --- rendering ----------------------------------------------------------------------------


def render(body: str) -> Markup:
    """Markdown to HTML, then sanitised by nh3: scripts (with their content), event handlers,
    styles and ``javascript:`` links are removed, whoever wrote the article."""
    html = _MARKDOWN.render(body)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Markup(clean)


def excerpt(body: str, length: int = 180) -> str:
    plain = re.sub(r"[#*_`>\[\]()|-]+", " ", body)
    plain = " ".join(plain.split())
    return plain if len(plain) <= length else plain[:length].rsplit(" ", 1)[0] + "…"


# --- search -------------------------------------------------------------------------------


def query_words(query: str) -> list[str]:
    return _WORD.findall(query[:MAX_QUERY].lower())[:12]


def search(query: str) -> list[Article]:
    """Articles matching every word (as a prefix), title matches first, then by rank."""
    words = query_words(query)
    if not words:
        return []
    ensure_index()
    if db_session().get_bind().dialect.name == "postgresql":
        keys = _search_postgresql(words)
    else:
        keys = _search_sqlite(words)
    by_key = {a.key: a for a in all_articles()}
    return [by_key[k] for k in keys if k in by_key]  # leaves out switched-off plugins


def _search_sqlite(words: list[str]) -> list[str]:
    match = " ".join(f'"{w}"*' for w in words)
    rows = db_session().execute(
        text(
            "SELECT e.source, e.slug FROM help_center_fts f "
            "JOIN help_center_search_entry e ON e.id = f.rowid "
            "WHERE help_center_fts MATCH :match "
            "ORDER BY e.id IN (SELECT rowid FROM help_center_fts WHERE help_center_fts "
            "MATCH :in_title) DESC, bm25(help_center_fts, 10.0, 1.0), e.title LIMIT :limit"
        ),
        {"match": match, "in_title": f"title : ({match})", "limit": MAX_RESULTS},
    )
    return [f"{row.source}/{row.slug}" for row in rows]


def _search_postgresql(words: list[str]) -> list[str]:
    """Through the GIN index (the WHERE repeats its expression); a title match is the same
    query restricted to weight A, the title's."""
    rows = db_session().execute(
        text(
            "SELECT source, slug FROM help_center_search_entry, "
            "to_tsquery('english', :q) AS query, to_tsquery('english', :in_title) AS in_title "
            f"WHERE {PG_SEARCH_DOCUMENT} @@ query "
            f"ORDER BY {PG_SEARCH_DOCUMENT} @@ in_title DESC, "
            f"ts_rank({PG_SEARCH_DOCUMENT}, query) DESC, title LIMIT :limit"
        ),
        {"q": pg_tsquery(words), "in_title": pg_tsquery(words, "A"), "limit": MAX_RESULTS},
    )
    return [f"{row.source}/{row.slug}" for row in rows]


def pg_tsquery(words: list[str], weights: str = "") -> str:
    """Every word as a prefix (``word:*``), only in parts of those weights when given."""
    return " & ".join(f"{w}:*{weights}" for w in words)


def _fingerprint(articles: list[Article]) -> str:
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.key):
        for part in (article.key, article.title, article.body):
            digest.update(part.encode())
            digest.update(b"\0")
    return digest.hexdigest()


def ensure_index() -> None:
    """Rebuild the index when the articles differ from the ones it was built from (every
    installed plugin's, enabled or not, so a switch does not rebuild it; searches filter
    by what is enabled). The state row is locked, so two workers do not both rebuild."""
    articles = [*_installed_articles(), *practice_articles()]
    fingerprint = _fingerprint(articles)
    session = db_session()
    state = session.scalar(select(SearchIndexState).where(SearchIndexState.id == 1))
    if state is not None and state.fingerprint == fingerprint:
        return
    state = session.scalar(
        select(SearchIndexState).where(SearchIndexState.id == 1).with_for_update()
    )
    if state is not None and state.fingerprint == fingerprint:
        session.rollback()
        return
    session.execute(delete(SearchEntry))
    session.add_all(
        SearchEntry(source=a.source, slug=a.slug, title=a.title, body=a.body) for a in articles
    )
    session.flush()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO help_center_fts(help_center_fts) VALUES ('rebuild')"))
    if state is None:
        session.add(SearchIndexState(id=1, fingerprint=fingerprint))
    else:
        state.fingerprint = fingerprint
    try:
        session.commit()
    except IntegrityError:  # another worker built the first index at the same moment
        session.rollback()


def _installed_articles() -> list[Article]:
    """Every loaded plugin's articles, whether enabled or not."""
    found = hook_results("backoffice_help_articles", include_disabled=True)
    return [_shipped(name, item) for name, items in found for item in items]


# --- context help -------------------------------------------------------------------------


def context_article(
    endpoint: str | None, path: str | None, *, owner_fallback: bool = True
) -> Article | None:
    """The article that documents this page: one naming its endpoint, else the one whose
    path prefix is the longest that matches, else the first article of the plugin that
    owns the page."""
    articles = all_articles()
    if endpoint:
        for article in articles:
            if endpoint in article.pages:
                return article
    best: tuple[int, Article] | None = None
    for article in articles:
        for page in article.pages:
            longer = best is None or len(page) > best[0]
            if page.startswith("/") and path and path.startswith(page) and longer:
                best = (len(page), article)
    if best is not None:
        return best[1]
    return _owner_article(endpoint, articles) if owner_fallback else None


def _owner_article(endpoint: str | None, articles: list[Article]) -> Article | None:
    owner = plugin_of_endpoint(endpoint)
    return next((a for a in articles if a.source == owner), None)


def article_url(article: Article) -> str:
    return url_for("HelpCenterView.article", source=article.source, slug=article.slug)


# --- the feature tour ---------------------------------------------------------------------


def tour_steps() -> list[dict[str, Any]]:
    """Enabled plugins' tour steps on pages this user may open, in order."""
    steps: list[tuple[int, str, TourStep]] = []
    for name, found in hook_results("backoffice_tour_steps"):
        steps += [(s.order, name, s) for s in found or [] if isinstance(s, TourStep)]
    result: list[dict[str, Any]] = []
    for _order, name, step in sorted(steps, key=lambda s: (s[0], s[1])):
        page = step.page() if callable(step.page) else step.page
        if page and may_open(page):
            result.append(
                {
                    "plugin": name,
                    "page": page,
                    "element": step.element,
                    "title": step.title,
                    "text": step.text,
                }
            )
    return result


def may_open(path: str) -> bool:
    """Whether the signed-in user holds the permission of the view behind ``path``."""
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path.split("?", 1)[0], method="GET")
    except HTTPException:
        return False
    owner = plugin_of_endpoint(endpoint)
    if owner is not None and not is_plugin_enabled(owner):
        return False
    function = current_app.view_functions[endpoint]
    view = getattr(function, "__self__", None)
    name = getattr(getattr(function, "__func__", function), "_permission_name", None)
    if view is None or name is None:
        return True  # no FAB permission on it (e.g. the home page)
    method = endpoint.split(".", 1)[1]
    name = (getattr(view, "method_permission_name", None) or {}).get(method, name)
    sm = current_app.extensions["appbuilder"].sm
    return bool(sm.has_access(f"can_{name}", view.class_permission_name))


# --- uploaded video tutorials ---------------------------------------------------------------

SNIFF_BYTES = 8192  # enough for every signature filetype and the Ogg check look at
#: Containers a browser plays, as filetype names them (``ogv``: Ogg holding Theora video),
#: and the Content-Type a download of one is served with.
PLAYABLE_VIDEOS = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",  # Apple's MP4
    "webm": "video/webm",
    "ogv": "video/ogg",
    "mov": "video/quicktime",  # MP4's parent format; Safari, and Chrome with H.264 in it
}
#: The extension a download of each type is named with.
VIDEO_EXTENSIONS = {
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/ogg": "ogv",
    "video/quicktime": "mov",
}
ACCEPTED_VIDEOS = "an MP4, WebM, Ogg or QuickTime (.mov) video"


@dataclass(frozen=True)
class VideoType:
    """What an uploaded video is, from its bytes."""

    extension: str
    content_type: str


class VideoRefused(ValueError):
    """An upload that is not a video the Help Center serves; the message is for the admin."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def video_max_mb() -> int:
    return max(1, int(setting("HELP_VIDEO_MAX_MB")))


def video_max_bytes() -> int:
    return video_max_mb() * 1024 * 1024


def video_too_large_message() -> str:
    return f"The video is larger than this practice's limit of {video_max_mb()} MB."


def check_video(stream: IO[bytes], name: str) -> VideoType:
    """The upload's type, decided from its first bytes (never its name); refused when it is
    too large, empty, not a video, or a video browsers cannot play. The stream is left
    where it was: Werkzeug has already spooled a large upload to disk, nothing here reads
    more than its head."""
    size = _stream_size(stream)
    if size > video_max_bytes():
        raise VideoRefused(video_too_large_message())
    if size == 0:
        raise VideoRefused(f"{name} is empty.")
    found = sniff(_head(stream))
    if found in PLAYABLE_VIDEOS:
        return VideoType(found, PLAYABLE_VIDEOS[found])
    raise VideoRefused(video_refusal(name, found))


def sniff(head: bytes) -> str | None:
    """The file's type as filetype names it (``ogv`` for Ogg with Theora video in it)."""
    kind = filetype.guess(head)
    if kind is None:
        return None
    if kind.extension == "ogg" and _ogg_holds_theora(head):
        return "ogv"
    return str(kind.extension)


def _ogg_holds_theora(head: bytes) -> bool:
    """filetype calls every Ogg stream audio; the first packet after the first page's
    header (27 bytes and its segment table) names the codec, ``\\x80theora`` for video."""
    if len(head) < 27:
        return False
    packet = 27 + head[26]
    return head[packet : packet + 7] == b"\x80theora"


def video_refusal(name: str, found: str | None) -> str:
    if found is None:
        return f"{name} is not a video (its content is no kind of file we recognise)."
    what = file_type_words(found)
    if not _is_video_kind(found):
        return f"{name} is not a video (it looks like {what}). Upload {ACCEPTED_VIDEOS}."
    return f"{name} is {what}, which browsers do not play: convert it to MP4 or WebM."


def _is_video_kind(extension: str) -> bool:
    kind = filetype.get_type(ext=extension)
    return kind is not None and str(kind.mime).startswith("video/")


def download_name(stored_name: str, content_type: str | None) -> str:
    """The uploader's name for the file, ending as its content says it should."""
    original = stored_name.split("_sep_", 1)[-1]
    extension = VIDEO_EXTENSIONS.get(content_type or "")
    if extension is None:
        return original
    return f"{original.rsplit('.', 1)[0]}.{extension}"


def stored_file_type(path: str) -> str:
    """The Content-Type of a file uploaded before types were recorded: sniffed now."""
    with open(path, "rb") as handle:
        found = sniff(handle.read(SNIFF_BYTES))
    return PLAYABLE_VIDEOS.get(found or "", "application/octet-stream")


def _head(stream: IO[bytes]) -> bytes:
    start = stream.tell()
    head = stream.read(SNIFF_BYTES)
    stream.seek(start)
    return head


def _stream_size(stream: IO[bytes]) -> int:
    start = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(start)
    return end - start
