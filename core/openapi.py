"""The OpenAPI 3 document of the product's JSON routes, served at ``/api/openapi.json``.

The product's JSON endpoints are plain Flask routes (FAB views and plugin blueprints)
authenticated by the login session cookie, not FAB ``BaseApi`` classes, so FAB's own
apispec generation does not see them. Each such route declares itself with
:func:`json_route` (exported as ``core.api.json_route``): its query, body and response
schemas are the plugins' marshmallow schemas, turned into OpenAPI by apispec's
marshmallow plugin. The document holds the routes of core and of the enabled plugins.

:func:`undeclared_json_routes` finds routes that answer JSON but carry no declaration;
the test suite fails on any, so a new plugin cannot ship an undocumented JSON route.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask, Response, current_app, jsonify
from flask_appbuilder import BaseView, expose
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from marshmallow import INCLUDE, Schema, fields
from werkzeug.routing import IntegerConverter, Rule

from core.inputs import MAX_ID

OPENAPI_VERSION = "3.0.3"
DOCUMENT_URL = "/api/openapi.json"
MARK = "_backoffice_openapi"
CACHE = "backoffice.openapi"
#: Media types of a response body.
JSON = "application/json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
#: The body methods: CSRF-protected host-wide (Flask-WTF).
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

F = TypeVar("F", bound=Callable[..., Any])


# --- the declaration -------------------------------------------------------------------------


class ErrorSchema(Schema):
    """What every refusal of the host looks like: ``{"error": "<a sentence>"}``; some add a
    machine-readable ``code`` or ``reason``. Subclass it for errors with more keys."""

    error = fields.String(required=True, metadata={"description": "what went wrong, for people"})
    code = fields.String(metadata={"description": "e.g. ``unavailable``"})
    reason = fields.String(metadata={"description": "why a login ended, e.g. ``idle``"})


class AnyObjectSchema(Schema):
    """A JSON object whose keys are not described here."""

    class Meta:
        unknown = INCLUDE


@dataclass(frozen=True)
class ApiResponse:
    """A response that is not a plain JSON body: another media type, or a description.

    ``schema`` is a marshmallow schema (class, or instance such as ``S(many=True)``) or
    ``None`` for a body that is not described (HTML, a file) or no body at all."""

    description: str = ""
    schema: Any = None
    content_type: str | None = JSON


@dataclass(frozen=True)
class ApiDoc:
    """What :func:`json_route` records on a view function."""

    summary: str
    description: str = ""
    query: Any = None
    body: Any = None
    form: Any = None
    raw_body: str | None = None
    responses: Mapping[int, Any] = field(default_factory=dict)
    negotiated: bool = False
    tags: tuple[str, ...] = ()


def json_route(
    summary: str,
    *,
    responses: Mapping[int, Any],
    query: Any = None,
    body: Any = None,
    form: Any = None,
    raw_body: str | None = None,
    negotiated: bool = False,
    description: str = "",
    tags: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Declare a JSON route in the OpenAPI document (put it right under ``@expose`` or the
    blueprint's ``@route``). ``query``, ``body`` (a JSON object) and ``form`` (an
    urlencoded form) are marshmallow schemas; ``responses`` maps each status the route
    itself answers to a marshmallow schema of its JSON body, ``None`` for no body, or an
    :class:`ApiResponse`. A route that takes both a JSON body and a form gives both;
    ``raw_body`` is the media type of a body that is no form (e.g. bytes to count).
    ``negotiated``: the route answers pages to browsers and JSON only to clients that ask
    for it (``Accept: application/json`` or a JSON body), so each JSON answer may be HTML too.
    The host adds the answers every route may give (400 from input checks, 401, 403 and the
    login redirect for staff routes, 503 while the database is down)."""

    doc = ApiDoc(
        summary, description, query, body, form, raw_body, dict(responses), negotiated, tags
    )

    def mark(view: F) -> F:
        setattr(view, MARK, doc)
        return view

    return mark


def declaration_of(view: Any) -> ApiDoc | None:
    found = getattr(view, MARK, None)
    return found if isinstance(found, ApiDoc) else None


# --- which routes are whose ------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    rule: Rule
    owner: str | None  # the plugin's name; None for the host's own routes
    view: Any


def product_routes(app: Flask, *, enabled_only: bool = True) -> Iterator[Route]:
    """The routes of core and of the (enabled) plugins, FAB's own generated ones included."""
    plugins = app.extensions["backoffice.plugins"]
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        owner = plugins.owner_of_blueprint(rule.endpoint.rpartition(".")[0] or None)
        if owner is None and not _module_of(view).startswith("core."):
            continue  # Flask's and Flask-AppBuilder's own routes
        if owner is not None and enabled_only and not plugins.states.is_enabled(owner):
            continue
        yield Route(rule, owner, view)


def _module_of(view: Any) -> str:
    return str(getattr(inspect.unwrap(getattr(view, "__func__", view)), "__module__", ""))


def _package_of(app: Flask, route: Route) -> str:
    if route.owner is None:
        return "core"
    records = app.extensions["backoffice.plugins"].all_records()
    record = next(r for r in records if r.name == route.owner)
    return str(record.module.__name__) if record.module is not None else route.owner


# --- is it a JSON route? ---------------------------------------------------------------------


def answers_json(view: Any, package: str) -> bool:
    """Whether the route's own code can answer with JSON: its view function, or a function
    of its package or a method of its view class that it calls (followed to the end), calls
    ``jsonify`` or names the ``application/json`` media type; or the view function returns
    a dict or list literal (which Flask turns into JSON). Code of Flask-AppBuilder's
    generated views is not the route's own: a ``ModelView`` list page is no JSON route."""
    owner = getattr(view, "__self__", None)
    start = inspect.unwrap(getattr(view, "__func__", view))
    seen: set[Any] = set()
    pending = [start]
    while pending:
        function = pending.pop()
        if function in seen or not _is_own(function, package):
            continue
        seen.add(function)
        tree = _tree_of(function)
        if tree is None:
            continue
        if _makes_json(tree, own_return=function is start):
            return True
        pending.extend(_called(function, tree, owner))
    return False


def _is_own(function: Any, package: str) -> bool:
    module = str(getattr(function, "__module__", ""))
    return inspect.isfunction(function) and (module == package or module.startswith(package + "."))


def _tree_of(function: Any) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None


def _makes_json(tree: ast.AST, *, own_return: bool) -> bool:
    """``own_return``: the view function itself, whose ``return {...}`` is the response
    (a helper returning a dict is building a template's context)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute) and _name(node) == "jsonify":
            return True
        if isinstance(node, ast.Constant) and node.value == JSON:
            return True
        if own_return and isinstance(node, ast.Return) and _is_literal_body(node.value):
            return True
    return False


def _is_literal_body(value: ast.AST | None) -> bool:
    if isinstance(value, ast.Tuple) and value.elts:
        value = value.elts[0]
    return isinstance(value, ast.Dict | ast.List | ast.DictComp | ast.ListComp)


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


def _called(function: Any, tree: ast.AST, owner: Any) -> Iterator[Any]:
    """Functions named in ``function``: globals and closure names, and ``self.<method>``."""
    scope = {**function.__globals__, **inspect.getclosurevars(function).nonlocals}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in scope:
            yield _unwrapped(scope[node.id])
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in {"self", "cls"}
            and owner is not None
        ):
            method = getattr(type(owner), node.attr, None)
            if callable(method):
                yield inspect.unwrap(getattr(method, "__func__", method))


def _unwrapped(value: Any) -> Any:
    """The function under a decorator's wrappers; ``None`` for what is none (a proxy such
    as ``current_app`` may refuse even to be looked at outside a request)."""
    try:
        return inspect.unwrap(value) if inspect.isfunction(value) else None
    except Exception:
        return None


def undeclared_json_routes(app: Flask) -> list[str]:
    """``"METHODS /url (endpoint)"`` of every JSON route of core and the enabled plugins
    that carries no :func:`json_route` declaration."""
    missing = []
    for route in product_routes(app):
        if declaration_of(route.view) is not None:
            continue
        if answers_json(route.view, _package_of(app, route)):
            methods = ",".join(sorted(_methods(route.rule)))
            missing.append(f"{methods} {route.rule.rule} ({route.rule.endpoint})")
    return sorted(missing)


# --- the document ----------------------------------------------------------------------------


def _schema_name(schema: Any) -> str | None:
    """``<package>.<Name>``: two plugins may both have an ``EntrySchema``."""
    if isinstance(schema, Schema) and any(
        getattr(schema, modifier, None) for modifier in ("only", "exclude", "partial")
    ):
        return None  # a variant: written out in place
    cls = resolve_schema_cls(schema)
    cls = cls[0] if isinstance(cls, list) else cls
    module = str(cls.__module__)
    package = module.split(".")[1] if module.startswith("plugins.") else module.split(".")[0]
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    return f"{package}.{name}"


SECURITY_SCHEMES = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": (
            "The login session cookie, set by signing in with the login form (`/login/`). "
            "FAB's token login is not served, and no JWT is accepted anywhere. For patients "
            "the cookie only holds the secret their CSRF token is checked against."
        ),
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": (
            "Every POST needs the CSRF token of its session: the `X-CSRFToken` response "
            f"header of `{DOCUMENT_URL}`, or `data-csrf` on any staff page."
        ),
    },
}

HOST_RESPONSES: dict[int, tuple[str, bool]] = {
    # status: (why, staff routes only)
    400: ("Refused at the edge: text that cannot be stored, a body that is no JSON object", False),
    401: ("The login ended (replaced, revoked, idle or too old)", True),
    403: ("Signed in without the permission this route needs", True),
    503: ("The database is unavailable; retry after the `Retry-After` seconds", False),
}


def build_document(app: Flask, *, enabled_only: bool = True) -> dict[str, Any]:
    """The OpenAPI 3 document of every declared route of core and the enabled plugins."""
    plugins = app.extensions["backoffice.plugins"]
    spec = APISpec(
        title="Telehealth Back Office",
        version=_version(),
        openapi_version=OPENAPI_VERSION,
        # apispec's own type says str, but its docs and code take None: inline the schema.
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],  # type: ignore[arg-type]
        info={
            "description": (
                "The JSON routes of the Telehealth Back Office host and of its enabled "
                "plugins. Sign in with the login form; send the session cookie, and the "
                "X-CSRFToken header on every POST. Socket.IO events are not described here."
            ),
            "x-plugins": {r.name: r.version for r in _enabled(plugins)},
        },
    )
    for name, scheme in SECURITY_SCHEMES.items():
        if scheme["in"] == "cookie":
            scheme = {**scheme, "name": app.config.get("SESSION_COOKIE_NAME") or "session"}
        spec.components.security_scheme(name, scheme)
    spec.components.schema("core.Error", schema=ErrorSchema)
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(product_routes(app, enabled_only=enabled_only), key=lambda r: r.rule.rule):
        doc = declaration_of(route.view)
        if doc is None:
            continue
        path, parameters = _path_of(route.rule)
        entry = paths.setdefault(path, {"parameters": parameters, "operations": {}})
        for method in sorted(_methods(route.rule)):
            entry["operations"][method.lower()] = _operation(route, doc, method)
    for path, entry in paths.items():
        spec.path(path=path, operations=entry["operations"], parameters=entry["parameters"])
    return spec.to_dict()


def _enabled(plugins: Any) -> list[Any]:
    return [r for r in plugins.all_records() if plugins.states.is_enabled(r.name)]


def _version() -> str:
    try:
        return metadata.version("telehealth-backoffice")
    except metadata.PackageNotFoundError:
        return "0"


def _methods(rule: Rule) -> set[str]:
    return set(rule.methods or ()) - {"HEAD", "OPTIONS"}


_ARGUMENT = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def _path_of(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for name in _ARGUMENT.findall(rule.rule):
        converter = rule._converters.get(name)
        if isinstance(converter, IntegerConverter):
            schema: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
        else:
            schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        parameters.append({"in": "path", "name": name, "required": True, "schema": schema})
    return _ARGUMENT.sub(r"{\1}", rule.rule), parameters


def _operation(route: Route, doc: ApiDoc, method: str) -> dict[str, Any]:
    public = bool(getattr(route.view, "_backoffice_public", None))
    operation: dict[str, Any] = {
        "operationId": route.rule.endpoint
        + (f".{method.lower()}" if len(_methods(route.rule)) > 1 else ""),
        "summary": doc.summary,
        "tags": list(doc.tags or (route.owner or "core",)),
        "responses": _responses(doc, staff=not public),
    }
    if doc.description:
        operation["description"] = doc.description
    if doc.query is not None:
        operation["parameters"] = [{"in": "query", "schema": doc.query}]
    content = _request_content(doc)
    if method in UNSAFE and content:
        operation["requestBody"] = {"required": True, "content": content}
    # A POST needs the CSRF token and the session cookie it is bound to, patients' too.
    names = ["session", "csrf"] if method in UNSAFE else ([] if public else ["session"])
    operation["security"] = [{name: [] for name in names}] if names else []
    return operation


def _request_content(doc: ApiDoc) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if doc.body is not None:
        content[JSON] = {"schema": doc.body}
    if doc.form is not None:
        content[FORM] = {"schema": doc.form}
    if doc.raw_body is not None:
        content[doc.raw_body] = {"schema": {"type": "string", "format": "binary"}}
    return content


def _responses(doc: ApiDoc, *, staff: bool) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, declared in sorted(doc.responses.items()):
        answers[str(status)] = _response(status, declared)
        if doc.negotiated and JSON in answers[str(status)].get("content", {}):
            answers[str(status)]["content"][HTML] = {}
    for status, (why, staff_only) in HOST_RESPONSES.items():
        if str(status) not in answers and (staff or not staff_only):
            answers[str(status)] = _response(status, ApiResponse(why, ErrorSchema))
            if status == 403:  # FAB's abort(403): a page to a browser
                answers[str(status)]["content"][HTML] = {}
    if staff and "302" not in answers:
        answers["302"] = _response(302, ApiResponse("Not signed in: to the login page", None, None))
    return answers


def _response(status: int, declared: Any) -> dict[str, Any]:
    if not isinstance(declared, ApiResponse):
        declared = ApiResponse(schema=declared, content_type=JSON if declared is not None else None)
    answer: dict[str, Any] = {"description": declared.description or _reason(status)}
    if declared.content_type is not None:
        media: dict[str, Any] = {}
        if declared.schema is not None:
            media["schema"] = declared.schema
        answer["content"] = {declared.content_type: media}
    return answer


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def document(app: Flask) -> dict[str, Any]:
    """The document for the plugins enabled now, built once per set of enabled plugins."""
    plugins = app.extensions["backoffice.plugins"]
    key = tuple(sorted(r.name for r in _enabled(plugins)))
    cache: dict[tuple[str, ...], dict[str, Any]] = app.extensions.setdefault(CACHE, {})
    if key not in cache:
        cache.clear()
        cache[key] = build_document(app)
    return cache[key]


# --- the host's own JSON routes --------------------------------------------------------------


class PluginHealthSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": ["enabled", "disabled", "failed"]})


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "degraded"]})
    database = fields.String(required=True, metadata={"description": "reachable, or why not"})
    async_mode = fields.String(required=True)
    message_queue = fields.String(required=True, allow_none=True)
    message_queue_state = fields.String(required=True, allow_none=True)
    rate_limits = fields.String(
        required=True, metadata={"description": "shared, fallback: <why>, or memory"}
    )
    plugins = fields.List(fields.Nested(PluginHealthSchema), required=True)


class KeepaliveSchema(Schema):
    idle_timeout = fields.Integer(
        required=True, metadata={"description": "seconds of inactivity before logoff"}
    )


class SessionStatusSchema(Schema):
    idle_left = fields.Float(
        required=True, metadata={"description": "seconds of inactivity left before logoff"}
    )


# --- serving it ------------------------------------------------------------------------------


class OpenApiDocumentSchema(AnyObjectSchema):
    """An OpenAPI 3 document."""


class OpenApiView(BaseView):
    """``/api/openapi.json`` for every signed-in staff member (see the README for why)."""

    route_base = "/api"
    base_permissions: list[str] = []

    @expose("/openapi.json")
    @json_route(
        "This OpenAPI document",
        description=(
            "The JSON routes of core and of the plugins enabled now. The `X-CSRFToken` "
            "response header holds the CSRF token of the caller's session, for its POSTs."
        ),
        responses={200: OpenApiDocumentSchema, 401: ErrorSchema},
    )
    def openapi(self) -> Any:
        if not current_user.is_authenticated:
            return jsonify(error="sign in to read the API document"), 401
        response: Response = jsonify(document(current_app._get_current_object()))  # type: ignore[attr-defined]
        response.headers["X-CSRFToken"] = generate_csrf()
        response.headers["Cache-Control"] = "no-store"
        return response
