"""Static assets that the browser keeps: versioned URLs, cached for a year.

Every page of the back office loads about thirty stylesheets and scripts (Flask-AppBuilder's,
the shell's, each plugin's). Without caching headers the browser asks again for each one on
every page and waits for the answers before it can show the page. So every ``url_for`` of a
static endpoint gets ``?v=<hash of the file's size and modification time>``, and a response to
such a URL may be kept for a year: a changed file gets a new URL. Fonts, which stylesheets
name without a version, are kept for a day.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

YEAR = 365 * 24 * 3600
DAY = 24 * 3600
FONTS = (".woff2", ".woff", ".ttf", ".otf", ".eot")


def is_static_endpoint(endpoint: str | None) -> bool:
    return bool(endpoint) and (
        endpoint in ("static", "appbuilder.static") or (endpoint or "").startswith("plugin_static_")
    )


@lru_cache(maxsize=4096)
def file_version(folder: str, filename: str) -> str | None:
    """A short tag that changes whenever the file does; ``None`` for a missing file."""
    path = Path(folder, filename)
    try:
        stat = os.stat(path)
    except OSError:
        return None
    seed = f"{filename}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    return hashlib.blake2s(seed, digest_size=6).hexdigest()


def _static_folder(app: Flask, endpoint: str) -> str | None:
    if endpoint == "static":
        return app.static_folder
    blueprint = app.blueprints.get(endpoint.rsplit(".", 1)[0])
    return blueprint.static_folder if blueprint is not None else None


def init_assets(app: Flask) -> None:
    def add_version(endpoint: str, values: dict[str, Any]) -> None:
        if not is_static_endpoint(endpoint) or "v" in values or "filename" not in values:
            return
        folder = _static_folder(app, endpoint)
        version = file_version(folder, str(values["filename"])) if folder else None
        if version:
            values["v"] = version

    def cache_headers(response: Response) -> Response:
        if not is_static_endpoint(request.endpoint) or response.status_code not in (200, 304):
            return response
        if request.args.get("v"):
            max_age, immutable = YEAR, True
        elif request.path.endswith(FONTS):
            max_age, immutable = DAY, False
        else:
            return response
        response.cache_control.no_cache = None
        response.cache_control.public = True
        response.cache_control.max_age = max_age
        response.cache_control.immutable = immutable
        return response

    app.url_defaults(add_version)
    app.after_request(cache_headers)
