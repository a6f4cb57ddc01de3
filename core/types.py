"""Value types that plugins hand to the host through their hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


class SocketError(Exception):
    """Raise from a Socket.IO handler to answer with an error acknowledgement."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
