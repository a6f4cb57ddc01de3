"""What the Help Center stores: the practice's own articles, its video tutorials, who has
been offered the tour, and the search index over every article."""

from __future__ import annotations

import datetime as dt

from flask import url_for
from flask_appbuilder.models.mixins import FileColumn
from markupsafe import Markup
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.api import Model

#: What PostgreSQL searches: the title weighted A (it ranks first), the body B. The GIN
#: index is over exactly this expression, so a query must repeat it to the letter.
PG_SEARCH_DOCUMENT = (
    "(setweight(to_tsvector('english', title), 'A') || "
    "setweight(to_tsvector('english', body), 'B'))"
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class PracticeArticle(Model):
    """An article a practice admin wrote in the UI (shipped articles live in plugins)."""

    __tablename__ = "help_center_article"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    audience: Mapped[str] = mapped_column(String(100), nullable=False, default="clinician")
    pages: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime, nullable=False, default=_now, onupdate=_now
    )

    def __repr__(self) -> str:
        return self.title


class VideoTutorial(Model):
    """A video the practice admin lists: a link, or a file uploaded here."""

    __tablename__ = "help_center_video"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    url: Mapped[str | None] = mapped_column(String(500))
    file: Mapped[str | None] = mapped_column(FileColumn())
    #: The uploaded file's type as its content shows it; the download is served as this.
    content_type: Mapped[str | None] = mapped_column(String(100))
    page: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return self.title

    def link(self) -> Markup:
        """The video as a link, for the lists."""
        if self.url:
            return Markup('<a href="{0}" target="_blank" rel="noopener">{0}</a>').format(self.url)
        if self.file:
            href = url_for("VideoTutorialView.download", filename=self.file)
            return Markup('<a href="{}">Download the video</a>').format(href)
        return Markup("")


class TourOffer(Model):
    """The feature tour was offered to this user (it is offered once, on a first login)."""

    __tablename__ = "help_center_tour_offer"

    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), primary_key=True)
    offered_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=_now)


class SearchEntry(Model):
    """One article as the full-text search sees it; rebuilt when the articles change.
    SQLite searches it through the FTS5 table ``help_center_fts`` (external content),
    PostgreSQL through the GIN index over :data:`PG_SEARCH_DOCUMENT`."""

    __tablename__ = "help_center_search_entry"
    __table_args__ = (
        UniqueConstraint("source", "slug"),
        # SQLite has no to_tsvector; autogenerate skips the index there (with a warning).
        Index(
            "ix_help_center_search_document", text(PG_SEARCH_DOCUMENT), postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    slug: Mapped[str] = mapped_column(String(80), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)


class SearchIndexState(Model):
    """The fingerprint of the articles the index was built from (one row)."""

    __tablename__ = "help_center_search_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
