"""Static assets: versioned URLs the browser may keep for a year, so pages load from cache."""

from __future__ import annotations

import os
import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from core.assets import file_version
from tests.conftest import login

# Scripts and stylesheets (the dock's sites are pages the shell links to, not assets).
ASSET = re.compile(r'(?:src|href)="(/(?:static|plugin-static)/[^"]+\.(?:js|css)(?:\?[^"]*)?)"')


def test_every_asset_of_a_page_is_versioned_and_kept_for_a_year(
    app: Flask, client: FlaskClient
) -> None:
    page = login(client, "clinician1")
    assets = ASSET.findall(page.text)
    assert len(assets) > 20, assets
    unversioned = [url for url in assets if "?v=" not in url]
    assert not unversioned, unversioned
    for url in assets:
        answer = client.get(url.replace("&amp;", "&"))
        assert answer.status_code == 200, url
        cache = answer.headers["Cache-Control"]
        assert "immutable" in cache and "max-age=31536000" in cache, (url, cache)


def test_an_unversioned_asset_is_revalidated_and_fonts_kept_a_day(client: FlaskClient) -> None:
    plain = client.get("/static/backoffice/shell.js")
    assert plain.status_code == 200
    assert "immutable" not in plain.headers.get("Cache-Control", "")
    font = client.get("/static/appbuilder/css/webfonts/fa-solid-900.woff2")
    assert font.status_code == 200
    assert "max-age=86400" in font.headers["Cache-Control"]


def test_a_changed_file_gets_a_new_version(tmp_path: Path) -> None:
    asset = tmp_path / "a.js"
    asset.write_text("one")
    first = file_version(str(tmp_path), "a.js")
    asset.write_text("two!")
    os.utime(asset, ns=(1, 2))
    assert first and file_version.__wrapped__(str(tmp_path), "a.js") not in (None, first)
    assert file_version(str(tmp_path), "missing.js") is None
