"""Input hygiene at the host's edge, so no route or event ever meets what it cannot store.

Every request and every Socket.IO payload passes here first: text with NUL (PostgreSQL
refuses it) or lone UTF-16 surrogates (no database can encode them; a browser sends one
for half an emoji cut off by a length limit) is refused with a 400 or an error ack, URL
integers beyond an INTEGER column answer 404, and the gaps Flask-AppBuilder's generated
views leave for hand-made requests (unknown actions, non-numeric page arguments, query
keys url_for reads itself, filter indexes and sort columns that do not exist, JSON bodies
posted to HTML forms, download names it cannot split) answer 4xx with a message.
"""

from __future__ import annotations

import inspect
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
FAB_VIEWS = "backoffice.fab_views"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: The arguments url_for takes for itself, not as URL values.
URL_FOR_ARGUMENTS = frozenset(
    name
    for name, parameter in inspect.signature(Flask.url_for).parameters.items()
    if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
)
# Flask-AppBuilder's own patterns (flask_appbuilder/urltools.py), searched as it does.
FAB_FILTER_ARG = re.compile(r"_flt_(\d)_(.*)")
FAB_ORDER_ARG = re.compile("_oc_(.*)")
UNSTORABLE_MESSAGE = "the text contains characters that cannot be stored (NUL or broken emoji)"


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` whose ids beyond an INTEGER column are a 404 (:func:`check_request`).

    Not a converter ``max``: Werkzeug then answers 405 for a route of the same path with
    another method (POST /x/<int:pk> beside GET /x/<int:pk>) instead of 404."""


def _beyond_an_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > MAX_ID


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
        if any(_beyond_an_id(v) for v in request.view_args.values()):
            return _refuse(404, "there is nothing with that id")
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
    """Flask-AppBuilder's views trust their URLs, query strings and forms: make them 4xx."""
    view_name, _, method = (request.endpoint or "").rpartition(".")
    view = fab_view(view_name)
    if view is None:
        return None
    for check in (_url_for_keys, _page_args, _filter_args, _order_args):
        refusal = check(view)
        if refusal is not None:
            return refusal
    if method in {"action", "action_post"}:
        action = (request.view_args or {}).get("name") or request.form.get("action")
        if action not in getattr(view, "actions", {}):
            return _refuse(400, f"there is no action named {action!r} here")
    filename = (request.view_args or {}).get("filename")
    if method == "download" and filename is not None and "_sep_" not in str(filename):
        return _refuse(404, "there is no such file")  # FAB names its uploads <uuid>_sep_<name>
    return None


def _url_for_keys(view: Any) -> Response | None:
    """FAB's list pages rebuild their sort and page links as url_for(endpoint,
    **request.args): a key url_for reads itself (``_method``, ``endpoint``...) breaks them."""
    reserved = sorted(URL_FOR_ARGUMENTS & set(request.args))
    if reserved:
        return _refuse(400, f"{reserved[0]!r} is not a query parameter of this page")
    return None


def _page_args(view: Any) -> Response | None:
    # FAB finds these anywhere in a key (re.findall("page_(.*)", key)) and int()s the value.
    for name, value in request.args.items():
        if ("page_" in name or "psize_" in name) and not (
            value.isascii() and value.isdigit() and int(value) <= MAX_PAGE
        ):
            return _refuse(400, f"{name} must be a page number up to {MAX_PAGE}")
    return None


def _filter_args(view: Any) -> Response | None:
    """``_flt_<n>_<column>`` picks the column's n-th filter; FAB indexes without a check."""
    filters = getattr(view, "_filters", None)
    if filters is None:
        return None
    searchable = filters.get_search_filters()
    for name in request.args:
        match = FAB_FILTER_ARG.search(name)
        if match is None or match[2] not in searchable:
            continue  # FAB ignores columns it does not search
        count = len(searchable[match[2]])
        if int(match[1]) >= count:
            return _refuse(400, f"{name}: column {match[2]!r} has filters 0 to {count - 1}")
        for value in request.args.getlist(name):
            problem = _filter_value_problem(view.datamodel, match[2], value)
            if problem is not None:
                return _refuse(400, f"{name} {problem}")
    return None


def _filter_value_problem(datamodel: Any, column: str, value: str) -> str | None:
    """What FAB's set_value_to_type passes on that a database refuses: a number past 64
    bits (text that is no number it drops itself), and for a boolean anything but the
    checkbox's "y", which it hands over as the text itself."""
    if datamodel.is_integer(column):
        try:
            number = int(value)
        except ValueError:
            return None
        return None if -(2**63) <= number < 2**63 else "must be a number of at most 64 bits"
    if datamodel.is_boolean(column) and value != "y":
        return 'takes "y" (the box ticked)'
    return None


def _order_args(view: Any) -> Response | None:
    """``_oc_<View>=<column>`` with ``_od_<View>`` asc/desc sorts that view's list (the page's
    own or a related one) by whatever it names; only its sortable columns may be named."""
    for name, column in request.args.items():
        match = FAB_ORDER_ARG.search(name)
        if match is None or request.args.get("_od_" + match[1]) not in {"asc", "desc"}:
            continue  # FAB ignores a sort without a direction
        listed = _model_view_named(match[1])
        if listed is not None and not _sortable(listed, column):
            return _refuse(400, f"{name}: the list cannot be sorted by {column!r}")
    return None


def _model_view_named(name: str) -> Any:
    views = current_app.extensions["appbuilder"].baseviews
    related = [r for v in views for r in getattr(v, "_related_views", None) or ()]
    return next(
        (v for v in [*views, *related] if type(v).__name__ == name and hasattr(v, "datamodel")),
        None,
    )


def _sortable(view: Any, column: str) -> bool:
    """In the view's ``order_columns`` and an SQL expression: FAB also lists plain Python
    properties there, which the database cannot sort by."""
    return column in (view.order_columns or ()) and _sql_attribute(view.datamodel.obj, column)


def _sql_attribute(model: Any, column: str) -> bool:
    root, _, leaf = column.partition(".")
    attribute: Any = getattr(model, root, None)
    if leaf:
        mapper = getattr(getattr(attribute, "property", None), "mapper", None)
        return mapper is not None and _sql_attribute(mapper.class_, leaf)
    if hasattr(attribute, "_col_name"):  # FAB's @renders: sorted by the column it names
        attribute = getattr(model, attribute._col_name, None)
    return hasattr(attribute, "__clause_element__")


def fab_view(endpoint: str) -> Any:
    """The FAB view (or API) serving ``endpoint``; looked up on every request, so cached."""
    views = current_app.extensions["appbuilder"].baseviews
    known: tuple[int, dict[str, Any]] | None = current_app.extensions.get(FAB_VIEWS)
    if known is None or known[0] != len(views):
        known = current_app.extensions[FAB_VIEWS] = (len(views), {v.endpoint: v for v in views})
    return known[1].get(endpoint)


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


#: What a file whose content says ``extension`` (``filetype``'s names) is, in words, for
#: the message that refuses it.
FILE_TYPE_WORDS = {
    "3gp": "a 3GP phone video",
    "7z": "a 7-Zip archive",
    "avi": "an AVI video",
    "crx": "a browser extension",
    "deb": "a software package",
    "doc": "a Word document",
    "docx": "a Word document",
    "elf": "a Linux program",
    "exe": "a Windows program",
    "flv": "a Flash video",
    "gif": "a GIF image",
    "gz": "a gzip archive",
    "heic": "a HEIC photo",
    "jpg": "a JPEG image",
    "m4a": "an M4A audio file",
    "mkv": "a Matroska (.mkv) video",
    "mp3": "an MP3 audio file",
    "mpg": "an MPEG-1/2 video",
    "ogg": "an Ogg audio file",
    "pdf": "a PDF",
    "png": "a PNG image",
    "pptx": "a PowerPoint presentation",
    "rar": "a RAR archive",
    "rpm": "a software package",
    "sqlite": "a database file",
    "swf": "a Flash file",
    "wasm": "a WebAssembly program",
    "wav": "a WAV audio file",
    "webp": "a WebP image",
    "wmv": "a Windows Media video",
    "xlsx": "an Excel workbook",
    "zip": "a ZIP archive",
}


def file_type_words(extension: str | None, otherwise: str | None = None) -> str:
    """ "a PDF", "a Windows program"...: what a refused upload really is, for its message;
    ``otherwise`` (else "a .xyz file") for a type these words do not know, and ``None``
    (nothing recognised) is "a kind of file we cannot recognise"."""
    if extension is None:
        return "a kind of file we cannot recognise"
    return FILE_TYPE_WORDS.get(extension) or otherwise or f"a .{extension} file"
