"""Input hygiene at the host's edge, so no route or event ever meets what it cannot store.

Every request and every Socket.IO payload passes here first: text with NUL (PostgreSQL
refuses it) or lone UTF-16 surrogates (no database can encode them; a browser sends one
for half an emoji cut off by a length limit) is refused with a 400 or an error ack, URL
integers beyond an INTEGER column answer 404, and the gaps Flask-AppBuilder's generated
views leave for hand-made requests (unknown actions, non-numeric page arguments, JSON
bodies posted to HTML forms, download names it cannot split) answer 4xx with a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.routing import IntegerConverter

#: The largest value of an INTEGER column: every id the app stores fits in it.
MAX_ID = 2**31 - 1
#: Page numbers and sizes of list views beyond this are refused rather than queried.
MAX_PAGE = 100_000
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "the text contains characters that cannot be stored (NUL or broken emoji)"


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that matches only ids an INTEGER column can hold: bigger is a 404."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def unstorable_text(value: Any) -> bool:
    """Whether ``value`` (a JSON-like structure) holds a string no database can store."""
    return any(not is_storable(text) for text in _strings(value))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _refuse(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _json_body() -> Any:
    if not request.is_json:
        return None
    try:
        return request.get_json(silent=True)
    except RecursionError:  # '[[[[…' thousands deep: not a body anyone means
        return None


def check_request() -> ResponseReturnValue | None:
    """A ``before_request`` guard; ``None`` lets the request through."""
    texts = [*request.args.items(multi=True), *request.form.items(multi=True)]
    if request.view_args:
        texts += [(k, v) for k, v in request.view_args.items() if isinstance(v, str)]
    if any(not is_storable(key) or not is_storable(value) for key, value in texts):
        return _refuse(400, UNSTORABLE_MESSAGE)
    if request.is_json and request.content_length:
        body = _json_body()
        if body is None:
            return _refuse(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            return _refuse(400, "the body must be a JSON object")
        if unstorable_text(body):
            return _refuse(400, UNSTORABLE_MESSAGE)
    return _check_generated_views()


def _check_generated_views() -> ResponseReturnValue | None:
    """Flask-AppBuilder's ModelViews trust their URLs and forms; make them answer 4xx."""
    for name, value in request.args.items():
        if name.startswith(("page_", "psize_")) and not (
            value.isascii() and value.isdigit() and int(value) <= MAX_PAGE
        ):
            return _refuse(400, f"{name} must be a page number up to {MAX_PAGE}")
    endpoint = request.endpoint or ""
    view_name, _, method = endpoint.rpartition(".")
    if method in {"action", "action_post"}:
        view = _fab_view(view_name)
        action = (request.view_args or {}).get("name") or request.form.get("action")
        if view is not None and action not in getattr(view, "actions", {}):
            return _refuse(400, f"there is no action named {action!r} here")
    filename = (request.view_args or {}).get("filename")
    if method == "download" and filename is not None and "_sep_" not in str(filename):
        return _refuse(404, "there is no such file")  # FAB names its uploads <uuid>_sep_<name>
    return None


def _fab_view(endpoint: str) -> Any:
    appbuilder = current_app.extensions["appbuilder"]
    return next((v for v in appbuilder.baseviews if v.endpoint == endpoint), None)


def _wrap_formdata(self: Any, form: Any, formdata: Any) -> Any:
    """Flask-WTF reads a JSON body as the form: only text fields make sense there."""
    body = _json_body()
    if isinstance(body, dict) and not all(isinstance(value, str) for value in body.values()):
        abort(_refuse(400, "form fields are text: send the form, or a JSON object of strings"))
    return _original_wrap_formdata(self, form, formdata)


_original_wrap_formdata = FlaskForm.Meta.wrap_formdata


def init_inputs(app: Flask) -> None:
    """Before any route is added: bounded ``int`` URLs. Then the request guard."""
    app.url_map.converters["int"] = BoundedIntConverter
    FlaskForm.Meta.wrap_formdata = _wrap_formdata
    app.before_request(check_request)
