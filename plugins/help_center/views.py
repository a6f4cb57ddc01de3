"""Pages of the Help Center: the Knowledge Base, context help, the feature tour, the
practice's own articles and its video tutorials."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.upload import FileUploadField
from flask_login import current_user
from sqlalchemy import Text, column, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage
from wtforms import Field, Form
from wtforms.validators import DataRequired, Length, ValidationError

from core.api import (
    AUDIENCES,
    ApiResponse,
    ErrorSchema,
    audit,
    db_session,
    is_plugin_enabled,
    json_route,
    setting,
)
from plugins.help_center import service
from plugins.help_center.models import PracticeArticle, TourOffer, VideoTutorial
from plugins.help_center.schemas import SearchQuerySchema, TourOfferSchema, TourStepsSchema

SOURCE = "help_center"
VIDEO_UPLOADS = frozenset({"VideoTutorialView.add", "VideoTutorialView.edit"})
FORM_OVERHEAD = 64 * 1024  # the multipart framing and the form's other fields


class HelpCenterView(BaseView):
    route_base = "/help"
    default_view = "index"
    class_permission_name = "HelpCenter"
    method_permission_name = {
        "index": "read",
        "article": "read",
        "context": "read",
        "tour": "read",
        "tour_steps": "read",
        "tour_state": "read",
        "tour_offered": "read",
    }
    base_permissions = ["can_read"]

    @expose("/")
    @json_route(
        "The Knowledge Base, or its search results",
        query=SearchQuerySchema,
        negotiated=True,
        responses={200: ApiResponse("The page", content_type="text/html"), 400: ErrorSchema},
    )
    @has_access
    def index(self) -> Any:
        query = request.args.get("q", "").strip()
        if len(query) > service.MAX_QUERY:
            return jsonify(error=f"search for at most {service.MAX_QUERY} characters"), 400
        results = service.search(query) if query else None
        articles = service.all_articles()
        videos = db_session().scalars(
            select(VideoTutorial).order_by(VideoTutorial.position.nulls_last(), VideoTutorial.title)
        )
        return self.render_template(
            "help_center/index.html",
            query=query,
            results=results,
            groups=service.by_audience(articles),
            videos=list(videos),
            excerpt=service.excerpt,
            article_url=service.article_url,
        )

    @expose("/articles/<source>/<slug>")
    @has_access
    def article(self, source: str, slug: str) -> Any:
        valid = service.SLUG.fullmatch(source.replace("_", "-")) and service.SLUG.fullmatch(slug)
        found = service.find_article(source, slug) if valid else None
        if found is None:
            return self.render_template("help_center/missing.html"), 404
        return self.render_template(
            "help_center/article.html",
            article=found,
            html=service.render(found.body),
            videos=service.videos_for(found),
            can_edit=found.source == service.PRACTICE
            and self.appbuilder.sm.has_access("can_edit", "PracticeArticle"),
        )

    @expose("/context")
    @has_access
    def context(self) -> Any:
        """The "?" of the top bar: the article for the page the user is on."""
        endpoint = request.args.get("view", "")[:200]
        path = request.args.get("path", "")[:500]
        found = service.context_article(endpoint, path)
        if found is None:
            return redirect(url_for("HelpCenterView.index", missing=1))
        return redirect(service.article_url(found))

    @expose("/tour")
    @has_access
    def tour(self) -> Any:
        return self.render_template("help_center/tour.html", steps=service.tour_steps())

    @expose("/tour/steps")
    @json_route("The feature tour's steps for this user", responses={200: TourStepsSchema})
    @has_access
    def tour_steps(self) -> Any:
        return jsonify(steps=service.tour_steps())

    @expose("/tour/state")
    @json_route("Whether to offer this user the tour", responses={200: TourOfferSchema})
    @has_access
    def tour_state(self) -> Any:
        if not setting("HELP_TOUR_OFFER"):
            return jsonify(offer=False)
        offered = db_session().get(TourOffer, int(current_user.id)) is not None
        return jsonify(offer=not offered)

    @expose("/tour/offered", methods=["POST"])
    @json_route("This user saw the tour's offer", responses={200: TourOfferSchema})
    @has_access
    def tour_offered(self) -> Any:
        """The user saw the offer (took the tour or not): it is not offered again."""
        user_id = int(current_user.id)
        if db_session().get(TourOffer, user_id) is None:
            db_session().add(TourOffer(user_id=user_id))
            audit("help.tour_offered", target=f"user:{user_id}", source=SOURCE)
            try:
                db_session().commit()
            except IntegrityError:  # the same user's other tab recorded it first
                db_session().rollback()
        return jsonify(offer=False)


# --- the practice's own articles --------------------------------------------------------


def _slug_is_free(form: Form, field: Field) -> None:
    slug = (field.data or "").strip()
    if not service.SLUG.fullmatch(slug):
        raise ValidationError("Use lower-case letters, digits and hyphens (at most 80).")
    taken = db_session().scalar(select(PracticeArticle.id).where(PracticeArticle.slug == slug))
    editing = request.view_args.get("pk") if request.view_args else None
    if taken is not None and str(taken) != str(editing):
        raise ValidationError("Another practice article already uses this name.")


def _audiences(form: Form, field: Field) -> None:
    chosen = service.split_list(field.data or "")
    unknown = sorted(set(chosen) - set(AUDIENCES))
    if not chosen or unknown:
        raise ValidationError(f"Name one or more of: {', '.join(AUDIENCES)}.")
    field.data = ", ".join(chosen)


def _pages(form: Form, field: Field) -> None:
    for page in service.split_list(field.data or ""):
        if not (page.startswith("/") or "." in page) or len(page) > 200:
            raise ValidationError(
                f"{page!r}: give a URL path (/calendar/) or a page name (CalendarView.index)."
            )


class PracticeArticleView(ModelView):
    route_base = "/help/practice-articles"
    datamodel = SQLAInterface(PracticeArticle)
    class_permission_name = "PracticeArticle"
    list_columns = ["title", "slug", "audience", "pages", "updated_at"]
    add_columns = edit_columns = ["title", "slug", "audience", "pages", "body"]
    show_columns = ["title", "slug", "audience", "pages", "body", "updated_at"]
    label_columns = {"slug": "Name in its address", "pages": "Pages it documents"}
    description_columns = {
        "audience": f"Comma-separated: {', '.join(AUDIENCES)}.",
        "pages": 'Comma-separated page names or URL paths; the "?" on those pages opens it.',
        "body": "Markdown. HTML and scripts are removed when the article is shown.",
    }
    validators_columns = {
        "title": [DataRequired(), Length(max=200)],
        "slug": [DataRequired(), _slug_is_free],
        "audience": [DataRequired(), _audiences],
        "pages": [Length(max=500), _pages],
        "body": [DataRequired(), Length(max=100_000)],
    }
    base_order = ("title", "asc")

    # In the pre_ hooks, so the audit row joins the commit Flask-AppBuilder makes.
    def pre_add(self, item: PracticeArticle) -> None:
        self._audit("help.article_added", item)

    def pre_update(self, item: PracticeArticle) -> None:
        self._audit("help.article_changed", item)

    def pre_delete(self, item: PracticeArticle) -> None:
        self._audit("help.article_deleted", item)

    def _audit(self, action: str, item: PracticeArticle) -> None:
        target = f"help_article:{item.slug}"
        audit(action, target=target, details={"title": item.title}, source=SOURCE)


# --- video tutorials ----------------------------------------------------------------------


def _link_or_file(form: Form, field: Field) -> None:
    """On the title, which is always sent: the link field is optional, so its own
    validators do not run when it is empty."""
    upload = getattr(form, "file", None)
    has_file = bool(upload is not None and getattr(upload.data, "filename", None))
    if not (form.url.data or "").strip() and not has_file and not _editing_has_file():
        raise ValidationError("Give a link or upload a video file.")


def _http_link(form: Form, field: Field) -> None:
    url = (field.data or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValidationError("Give an http:// or https:// link.")
    field.data = url


def _editing_has_file() -> bool:
    pk = request.view_args.get("pk") if request.view_args else None
    if pk is None:
        return False
    row = db_session().get(VideoTutorial, int(pk))
    return bool(row is not None and row.file)


class VideoUploadField(FileUploadField):
    """The video file: what it is comes from its content, never its name, and the row
    keeps that type for the download."""

    video: service.VideoType | None = None

    def pre_validate(self, form: Form) -> None:
        upload = self.data
        if not isinstance(upload, FileStorage) or not upload.filename:
            return
        try:
            self.video = service.check_video(upload.stream, shown_name(upload.filename))
        except service.VideoRefused as refused:
            raise ValidationError(refused.message) from None

    def process_on_store(self, obj: VideoTutorial, byte_stream: Any) -> None:
        obj.content_type = self.video.content_type if self.video else None

    def process_on_delete(self, obj: VideoTutorial) -> None:
        obj.content_type = None


def shown_name(filename: str) -> str:
    """The uploader's file name without folders, short enough for a message."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1][:120] or "The file"


def _refused_is_400(page: Any) -> Any:
    """A POST answered with its form again was refused (Flask-AppBuilder answers 200)."""
    if request.method == "POST" and isinstance(page, str):
        return page, 400
    return page


class VideoTutorialView(ModelView):
    route_base = "/help/videos"
    datamodel = SQLAInterface(VideoTutorial)
    class_permission_name = "VideoTutorial"
    list_columns = ["title", "page", "link"]
    show_columns = ["title", "description", "page", "link"]
    add_columns = edit_columns = ["title", "url", "file", "page", "description", "position"]
    label_columns = {
        "url": "Link",
        "file": "Or a video file",
        "page": "Page it belongs to",
        "position": "Order in the list",
        "link": "Video",
    }
    description_columns = {
        "page": "A URL path (/waiting-room/) or page name; shown with that page's help.",
    }
    validators_columns = {
        "title": [DataRequired(), Length(max=200), _link_or_file],
        "url": [Length(max=500), _http_link],
        "page": [Length(max=200), _pages],
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "file": VideoUploadField(
            "Or a video file",
            description="MP4 plays in every browser; WebM, QuickTime (.mov) and Ogg are taken "
            "too. The file's content decides, not its name.",
        )
    }
    base_order = ("position", "asc")

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self) -> Any:
        return _refused_is_400(super().add())

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk: Any) -> Any:
        return _refused_is_400(super().edit(pk))

    @expose("/download/<string:filename>")
    @has_access
    def download(self, filename: str) -> Any:
        """Only a tutorial's own file, served as the type its content showed."""
        # The column as plain Text: a FileColumn in a statement stops SQLAlchemy caching it.
        named = column("file", Text()) == filename
        row = db_session().scalar(select(VideoTutorial).where(named))
        path = os.path.join(current_app.config["UPLOAD_FOLDER"], filename)
        if row is None or not os.path.isfile(path):
            abort(404)
        content_type = row.content_type or service.stored_file_type(path)
        return send_file(
            path,
            mimetype=content_type,
            download_name=service.download_name(filename, content_type),
            as_attachment=True,
        )


def cap_video_uploads(endpoint: str | None, values: Any) -> None:
    """Refuse a video upload declared larger than the practice's limit before anything
    reads its body, and make Werkzeug stop reading a streamed one at the limit."""
    if endpoint not in VIDEO_UPLOADS or request.method != "POST":
        return
    if not is_plugin_enabled(SOURCE):
        return
    cap = service.video_max_bytes() + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > cap:
        abort(_too_large_response())
    request.max_content_length = cap


def _too_large_response() -> Response:
    page = render_template(
        "help_center/refused.html",
        message=service.video_too_large_message(),
        back=url_for("VideoTutorialView.list"),
    )
    response = make_response(page, 413)
    response.headers["Connection"] = "close"  # the rest of the body is never read
    return response


def context_help_url() -> dict[str, str | None]:
    """``context_help_url`` for the top bar's "?": this page's endpoint and path, for
    :meth:`HelpCenterView.context`; none when the Help Center is off or nobody is signed in."""
    if not is_plugin_enabled("help_center") or not current_user.is_authenticated:
        return {"context_help_url": None}
    url = url_for("HelpCenterView.context", view=request.endpoint or "", path=request.path)
    return {"context_help_url": url}
