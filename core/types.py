"""Value types that plugins hand to the host through their hooks."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The plugin-API version this host implements. Plugins declare the one they target.
API_VERSION = 1


@dataclass(frozen=True)
class PluginInfo:
    """Who a plugin is and where it sits in the menu."""

    title: str
    version: str
    description: str = ""
    menu_section: str | None = None
    menu_icon: str = "fa-puzzle-piece"
    menu_order: int = 100
    requires: tuple[str, ...] = ()
    api_version: int = API_VERSION
    enabled_by_default: bool = True


@dataclass(frozen=True)
class MenuView:
    """A Flask-AppBuilder view (class or instance) and its menu entry in the plugin's section.

    ``label=None`` registers the view without a menu entry.
    """

    view: Any
    label: str | None = None
    icon: str = ""


@dataclass(frozen=True)
class MenuLink:
    """A plain link in the plugin's menu section."""

    label: str
    href: str
    icon: str = ""


@dataclass(frozen=True)
class DashboardWidget:
    """A panel on the Back Office home page, rendered from the plugin's template."""

    title: str
    template: str
    order: int = 100


@dataclass(frozen=True)
class Assets:
    """Extra JavaScript and CSS, as paths inside the plugin's ``static/`` folder."""

    js: tuple[str, ...] = ()
    css: tuple[str, ...] = ()


@dataclass(frozen=True)
class SocketEvent:
    """A Socket.IO event a plugin handles.

    ``namespace`` is ``"staff"`` (logged-in users) or ``"patient"`` (token holders).
    ``name`` must start with the plugin's name and a dot, e.g. ``"tools.ping"``.
    ``schema`` is a marshmallow schema class that validates the payload; the handler gets
    the loaded payload and a :class:`SocketContext`, and returns a JSON-able result.
    ``permission`` is a ``(permission, view_menu)`` pair a staff user must hold.
    """

    name: str
    handler: Callable[..., Any]
    schema: Any
    namespace: str = "staff"
    permission: tuple[str, str] | None = None


@dataclass(frozen=True)
class SocketContext:
    """Who sent a Socket.IO event."""

    sid: str
    namespace: str
    user_id: int | None = None
    username: str | None = None
    patient: dict[str, Any] | None = None


@dataclass(frozen=True)
class GroupRule:
    """A named switch per role (e.g. *Telehealth Back Office access*)."""

    name: str
    description: str
    default_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened in the practice, for other plugins to react to."""

    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    source: str = "core"


@dataclass(frozen=True)
class Setting:
    """A practice setting a plugin declares; Settings gives it a form field for free.

    ``key`` is a config key (``BACKOFFICE_<KEY>`` in the environment still sets it, and
    then locks it in the form). ``type`` is one of ``str``, ``text``, ``int``, ``float``,
    ``bool``, ``choice`` (one of ``choices``) or ``secret`` (write-only, never shown
    back). ``default`` ``None`` means the config default.
    """

    key: str
    label: str
    type: str = "str"
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    section: str | None = None
    minimum: float | None = None  # int and float: the smallest value the form accepts
    #: Called with the parsed value before it is saved; a sentence when it is refused.
    check: Callable[[Any], str | None] | None = None


@dataclass(frozen=True)
class TopbarItem:
    """Something a plugin adds to the top bar of every staff page (e.g. a button that
    opens a dialog): its template, rendered for users who hold ``permission``."""

    name: str
    template: str
    permission: tuple[str, str] | None = None
    order: int = 100


@dataclass(frozen=True)
class EventSpec:
    """A domain event a plugin emits: its name, what it means and its payload schema
    (a marshmallow schema class); the event catalogue is built from these."""

    name: str
    description: str
    schema: Any = None


@dataclass(frozen=True)
class PortalSection:
    """A section of the patient portal: a page of the plugin's blueprint (``endpoint``)
    that extends the portal's base template and reads :func:`core.api.portal_client`."""

    name: str
    title: str
    endpoint: str
    order: int = 100
    icon: str = ""


#: Who a help article is for.
AUDIENCES = ("clinician", "practice admin", "security admin")


@dataclass(frozen=True)
class HelpArticle:
    """A Knowledge Base article in Markdown.

    ``pages`` are the pages it documents, for the "?" of context help: Flask endpoints
    (``"CalendarView.index"``) or URL path prefixes (``"/calendar/"``). ``audience`` holds
    values of :data:`AUDIENCES`. :meth:`from_folder` reads a plugin's ``help/*.md``.
    """

    slug: str
    title: str
    body: str
    audience: tuple[str, ...] = ("clinician",)
    pages: tuple[str, ...] = ()
    order: int = 100

    @classmethod
    def from_folder(cls, folder: str | Path) -> list[HelpArticle]:
        return list(_articles_in(str(folder)))


@functools.cache
def _articles_in(folder: str) -> tuple[HelpArticle, ...]:
    return tuple(_parse_article(path) for path in sorted(Path(folder).glob("*.md")))


def _parse_article(path: Path) -> HelpArticle:
    """A Markdown file whose header lines (``key: value`` between ``---`` lines) give the
    title, audience, pages and order; its name is the slug."""
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    if text.startswith("---\n"):
        head, _, text = text[4:].partition("\n---\n")
        for line in head.splitlines():
            key, _, value = line.partition(":")
            header[key.strip().lower()] = value.strip().strip('"')
    if "title" not in header:
        raise ValueError(f"help article {path} has no title in its header")
    audience = tuple(a.strip() for a in header.get("audience", "clinician").split(",") if a.strip())
    unknown = set(audience) - set(AUDIENCES)
    if unknown:
        raise ValueError(f"help article {path}: unknown audience {', '.join(sorted(unknown))}")
    return HelpArticle(
        slug=path.stem,
        title=header["title"],
        body=text.strip() + "\n",
        audience=audience,
        pages=tuple(p.strip() for p in header.get("pages", "").split(",") if p.strip()),
        order=int(header.get("order", "100")),
    )


@dataclass(frozen=True)
class TourStep:
    """One stop of the feature tour: the element (a CSS selector) on a page and what to say.

    ``page`` is the page's URL path, or a function returning one for the signed-in user
    (e.g. their next telehealth appointment), or ``None`` to leave the step out for them.
    """

    element: str
    title: str
    text: str
    page: str | Callable[[], str | None]
    order: int = 100


@dataclass(frozen=True)
class ReportFilters:
    """What a report is asked for: local dates (inclusive) in the practice's ``zone``, an
    optional provider and invite kind. ``provider_id`` is already narrowed to the viewer's
    own rows when their role may not see everyone's."""

    date_from: dt.date
    date_to: dt.date
    zone: Any
    provider_id: int | None = None
    invite_kind: str | None = None


@dataclass(frozen=True)
class ReportSpec:
    """A report in Reporting: a figure drawn from ``rows(filters)`` (a list of dicts keyed by
    ``columns``' keys), the same rows as a sortable, paged table and as CSV. ``label`` and
    ``value`` name the columns the chart draws; ``drill(row)`` gives the visit filters
    (e.g. ``{"outcome": "no_show"}``) of the visits behind a row, ``None`` for none."""

    name: str
    title: str
    columns: tuple[tuple[str, str], ...]
    rows: Callable[[ReportFilters], list[dict[str, Any]]]
    label: str
    value: str
    chart: str = "bar"  # bar | line | doughnut
    description: str = ""
    drill: Callable[[dict[str, Any]], dict[str, str] | None] | None = None
    order: int = 100


@dataclass(frozen=True)
class PortalActivity:
    """One thing a client did in the patient portal (``at`` is naive UTC), listed for staff:
    ``kind`` is a short word such as ``consent`` or ``upload``."""

    at: Any
    kind: str
    summary: str
    source: str = ""


@dataclass(frozen=True)
class ReportColumn:
    """A column added to Reporting's visit tables. ``values(visits)`` gets a page of visits
    (mappings with ``id``, ``entry_id``, ``session_id``, ``client_id``, ``provider_id``,
    ``invite_id``) and returns each visit id's value: one call per page, never per row."""

    name: str
    label: str
    values: Callable[[list[dict[str, Any]]], dict[int, Any]]


class SocketError(Exception):
    """Raise from a Socket.IO handler to answer with an error acknowledgement."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
