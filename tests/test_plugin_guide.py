"""Keeps docs/plugin-guide.md true.

The guide's example plugin (every fenced block with a ``file=`` info string) is written
to a folder with a real ``*.dist-info``, installed by putting that folder on ``sys.path``,
migrated, and driven through its page, menu, widget, Socket.IO events, role grants,
domain-event listener and runtime switch. The hook and API references are checked
against ``core.hookspecs`` and ``core.api``.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import inspect
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

import core.api
import core.hookspecs
from core.testing import DatabaseFactory, LiveServer, PluginEnvironment, live_login
from tests.conftest import ROOT, csrf_token_from, login

pytestmark = pytest.mark.filterwarnings(
    "ignore:This declarative base already contains a class:sqlalchemy.exc.SAWarning"
)

GUIDE = ROOT / "docs" / "plugin-guide.md"
PLUGIN = "visit_notes"
DIST_NAME = "visit-notes-plugin"
DIST_INFO = "visit_notes_plugin-0.1.0.dist-info"
ENTRY_POINTS = "entry_points.txt"
REQUIRED_FILES = {
    "visit_notes/__init__.py": "python",
    "visit_notes/models.py": "python",
    "visit_notes/migrations/visit_notes_0001.py": "python",
    "visit_notes/templates/visit_notes/widget.html": "html",
    ENTRY_POINTS: "ini",
}
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)(?P<info>.*)$")
CSS_URL = "/plugin-static/visit_notes/visit_notes/visit_notes.css"
BOARD_JS = "/plugin-static/visit_notes/visit_notes/board.js"
WALK_THROUGH = ("## Packaging", "## Enable, disable and failure isolation")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the guide."""

    lang: str
    file: str | None
    text: str
    line: int


def code_blocks(markdown: str) -> list[Block]:
    blocks: list[Block] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        assert index < len(lines), f"the code block opened on line {start + 1} is never closed"
        named = re.search(r"(?:^|\s)file=(\S+)", opening["info"])
        blocks.append(
            Block(
                lang=opening["lang"],
                file=named.group(1) if named else None,
                text="\n".join(body) + "\n",
                line=start + 1,
            )
        )
        index += 1
    return blocks


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def example_files() -> dict[str, Block]:
    files: dict[str, Block] = {}
    for block in code_blocks(guide_text()):
        if block.file is None:
            continue
        assert block.file not in files, f"file={block.file} appears twice (line {block.line})"
        path = PurePosixPath(block.file)
        assert not path.is_absolute() and ".." not in path.parts, block.file
        files[block.file] = block
    return files


def install_example(site: Path) -> None:
    """Write the guide's files as an installed distribution: package plus dist-info."""
    dist_info = site / DIST_INFO
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: 0.1.0\n", encoding="utf-8"
    )
    for name, block in example_files().items():
        if not name.startswith(PLUGIN + "/") and name != ENTRY_POINTS:
            continue  # pyproject.toml and tests/ belong to the project, not the package
        target = dist_info / ENTRY_POINTS if name == ENTRY_POINTS else site / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")


def _forget_example_modules() -> None:
    for name in list(sys.modules):
        if name == PLUGIN or name.startswith(PLUGIN + "."):
            del sys.modules[name]


def _forget_example_tables() -> None:
    """Take the example's tables out of the process-global metadata, so later tests that
    compare the database with the models do not see a plugin they never installed."""
    from core.database import metadata

    for name in [t for t in metadata.tables if t.startswith(PLUGIN + "_")]:
        metadata.remove(metadata.tables[name])


@pytest.fixture
def visit_notes_site(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The guide's example plugin, installed the way ``pip install`` would.

    It asks for ``database_url`` first, so the session's template database is built
    (and this test's copy made) before the plugin is installed: like a practice that
    adds a plugin to a running installation.
    """
    site = tmp_path / "site"
    install_example(site)
    _forget_example_modules()
    monkeypatch.syspath_prepend(str(site))
    yield site
    _forget_example_modules()
    _forget_example_tables()


def plugin_states(client: FlaskClient) -> dict[str, str]:
    return {p["name"]: p["state"] for p in client.get("/health").get_json()["plugins"]}


def switch_plugin(client: FlaskClient, enabled: bool) -> None:
    token = csrf_token_from(client.get("/admin/plugins/").text)
    response = client.post(
        f"/admin/plugins/{PLUGIN}/switch",
        data={"enabled": "1" if enabled else "0", "csrf_token": token},
    )
    assert response.status_code == 302, response.text[:500]


def staff_socket(app: Flask, client: FlaskClient) -> Any:
    from core.realtime import socketio_of

    sio = socketio_of(app).test_client(app, namespace="/staff", flask_test_client=client)
    assert sio.is_connected("/staff")
    return sio


def emit(sio: Any, event: str, payload: Any) -> dict[str, Any]:
    ack = sio.emit(event, payload, namespace="/staff", callback=True)
    assert isinstance(ack, dict), ack
    return ack


def end_session(app: Flask, session_id: int) -> None:
    payload = {  # session.ended as the event catalogue declares it
        "session_id": session_id,
        "reference": "adhoc",
        "entry_id": None,
        "waiting_entry_id": None,
        "provider_id": 1,
        "clinician_id": 1,
        "client_id": None,
        "status": "ended",
        "started_at": "2026-12-01T10:00:00Z",
        "ended_at": "2026-12-01T10:30:00Z",
        "duration_seconds": 1800,
        "participants": 2,
        "ended_by": None,
    }
    with app.app_context():
        core.api.emit_domain_event("session.ended", payload, source="test")


# --- the example plugin, end to end ---------------------------------------------------


def migrated_app(make_app: Callable[..., Flask]) -> Flask:
    """An app with the example installed, after what ``backoffice db upgrade`` does."""
    from core import migrate, roles
    from core.database import db

    app = make_app()
    with app.app_context():
        assert PLUGIN in migrate.plugin_version_dirs()
        assert any("visit_notes_note" in str(diff) for diff in migrate.differences())
        migrate.upgrade()
        assert migrate.differences() == [], "the migration does not match the model"
        heads = set(db.session.scalars(text("SELECT version_num FROM alembic_version")))
        assert "visit_notes_0001" in heads
        db.session.remove()
        roles.sync()
    return app


def add_note_with_form(client: FlaskClient, subject: str, body: str) -> None:
    form = client.get("/visit-notes/add")
    assert form.status_code == 200, form.text[:500]
    response = client.post(
        "/visit-notes/add",
        data={"subject": subject, "body": body, "csrf_token": csrf_token_from(form.text)},
    )
    assert response.status_code == 302, response.text[:500]


def test_example_plugin_installs_migrates_and_serves(
    visit_notes_site: Path, make_app: Callable[..., Flask]
) -> None:
    app = migrated_app(make_app)
    client = app.test_client()
    assert plugin_states(client)[PLUGIN] == "enabled"

    login(client, "admin")
    page = client.get("/visit-notes/list/")
    assert page.status_code == 200, page.text[:500]
    assert 'data-section="Visit Notes"' in page.text
    assert 'data-menu="Notes"' in page.text
    assert CSS_URL in page.text
    assert client.get(CSS_URL).status_code == 200
    board = client.get("/visit-notes/board/")
    assert board.status_code == 200 and 'data-menu="Board"' in board.text
    nonce = re.search(r"'nonce-([^']+)'", board.headers["Content-Security-Policy"])
    assert nonce and f'<script nonce="{nonce.group(1)}">window.visitNotesBoard' in board.text
    script = client.get(BOARD_JS)
    assert script.status_code == 200 and "window.backofficeSocket" in script.text
    assert "io(" not in script.text  # the page's own socket, never a second one
    events_page = client.get("/admin/events/").text
    assert 'data-event="visit_notes.note_added" data-plugin="visit_notes"' in events_page
    plugins_page = client.get("/admin/plugins/").text
    assert f'data-plugin="{PLUGIN}" data-state="enabled"' in plugins_page
    assert DIST_NAME in plugins_page

    # The FAB view writes, and its post_add announces the note.
    sio = staff_socket(app, client)
    add_note_with_form(client, "Called back", "Discussed the plan.")
    listing = client.get("/visit-notes/list/")
    assert "Called back" in listing.text
    received = sio.get_received("/staff")
    notes = [m["args"][0] for m in received if m["name"] == "visit_notes.note_added"]
    assert [n["subject"] for n in notes] == ["Called back"], received
    show = client.get(f"/visit-notes/show/{notes[0]['id']}")
    assert show.status_code == 200 and "Discussed the plan." in show.text
    home = client.get("/")
    assert "Latest visit notes" in home.text and "Called back" in home.text

    # The domain-event listener drafts a note when a session ends.
    end_session(app, 42)
    assert "Write up session 42" in client.get("/visit-notes/list/").text

    # Default role grants: clinicians write, front-desk staff only read.
    clinician = app.test_client()
    login(clinician, "clinician1")
    assert 'data-section="Visit Notes"' in clinician.get("/visit-notes/list/").text
    add_note_with_form(clinician, "Clinician note", "Follow up in two weeks.")
    frontdesk = app.test_client()
    login(frontdesk, "frontdesk")
    assert frontdesk.get("/visit-notes/list/").status_code == 200
    assert frontdesk.get("/visit-notes/add").status_code != 200

    # Disabled at runtime: 404, menu and widget gone, events refused, hooks not called.
    switch_plugin(client, enabled=False)
    assert plugin_states(client)[PLUGIN] == "disabled"
    assert client.get("/visit-notes/list/").status_code == 404
    assert client.get(CSS_URL).status_code == 404
    home = client.get("/")
    assert home.status_code == 200
    assert 'data-section="Visit Notes"' not in home.text
    assert "Latest visit notes" not in home.text and CSS_URL not in home.text
    off = emit(sio, "visit_notes.add", {"subject": "While off"})
    assert off["ok"] is False and off["error"]["code"] == "plugin_disabled", off
    end_session(app, 43)

    switch_plugin(client, enabled=True)
    listing = client.get("/visit-notes/list/")
    assert listing.status_code == 200 and 'data-section="Visit Notes"' in listing.text
    assert "Write up session 43" not in listing.text and "While off" not in listing.text
    sio.disconnect(namespace="/staff")


def test_example_socket_events_answer_with_acks(
    visit_notes_site: Path, make_app: Callable[..., Flask]
) -> None:
    app = migrated_app(make_app)
    client = app.test_client()
    login(client, "admin")
    sio = staff_socket(app, client)

    ack = emit(sio, "visit_notes.add", {"subject": "Called back", "body": "Discussed the plan."})
    assert ack["ok"] is True, ack
    note_id = ack["data"]["id"]
    assert ack["data"]["subject"] == "Called back"
    received = sio.get_received("/staff")
    assert any(m["name"] == "visit_notes.note_added" for m in received), received
    with app.app_context():  # the guide's one commit wrote the note with its audit row
        from sqlalchemy import select

        from core.database import db
        from core.models import AuditEntry

        audited = db.session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "visit_notes.note_added")
        ).all()
    assert f"note:{note_id}" in audited

    bad = emit(sio, "visit_notes.add", {"body": "no subject"})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid", bad
    assert "subject" in bad["error"]["fields"]
    assert emit(sio, "visit_notes.add", ["not", "an", "object"])["error"]["code"] == "invalid"
    too_long = emit(sio, "visit_notes.add", {"subject": "Long", "body": "x" * 4001})
    assert too_long["error"]["code"] == "too_long", too_long
    latest = emit(sio, "visit_notes.latest", {})
    assert latest["ok"] is True and latest["data"][0]["id"] == note_id, latest
    assert sio.is_connected("/staff")
    sio.disconnect(namespace="/staff")

    frontdesk = app.test_client()
    login(frontdesk, "frontdesk")
    desk = staff_socket(app, frontdesk)
    refused = emit(desk, "visit_notes.add", {"subject": "Not mine to write"})
    assert refused["error"]["code"] == "forbidden", refused
    assert emit(desk, "visit_notes.latest", {"limit": 1})["ok"] is True
    desk.disconnect(namespace="/staff")


# --- the references -------------------------------------------------------------------


def _hookspecs() -> dict[str, Callable[..., Any]]:
    return {
        name: obj
        for name, obj in vars(core.hookspecs).items()
        if name.startswith("backoffice_") and inspect.isfunction(obj)
    }


def test_guide_documents_every_hook_and_api_name() -> None:
    guide = guide_text()
    hooks = _hookspecs()
    assert len(hooks) >= 10
    headings = set(re.findall(r"^### `(backoffice_\w+)`", guide, flags=re.MULTILINE))
    assert sorted(set(hooks) - headings) == [], "hooks without a reference section"
    assert sorted(headings - set(hooks)) == [], "reference sections for hooks that do not exist"
    for name, spec in hooks.items():
        documented = re.search(rf"^{name}\((?P<params>[^)]*)\)", guide, flags=re.MULTILINE)
        assert documented is not None, f"no signature line for {name}"
        params = [p.split(":")[0].strip() for p in documented["params"].split(",") if p.strip()]
        assert params == list(inspect.signature(spec).parameters), name
    for name in core.api.__all__:
        assert f"`{name}`" in guide, f"core.api.{name} is not in the guide"


def test_guide_code_imports_only_the_public_api_from_core() -> None:
    python = [b for b in code_blocks(guide_text()) if b.lang == "python"]
    assert {b.file for b in python} >= {f for f, lang in REQUIRED_FILES.items() if lang == "python"}
    for block in python:
        try:
            tree = ast.parse(block.text)
        except SyntaxError as exc:
            pytest.fail(f"the python block on line {block.line} does not parse: {exc}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
                if node.module == "core":
                    modules = [f"core.{alias.name}" for alias in node.names]
            else:
                continue
            for module in modules:
                if module == "core" or module.startswith("core."):
                    assert module == "core.api", f"line {block.line}: imports {module}"


def test_guide_example_files_and_packaging_agree() -> None:
    files = example_files()
    for name, lang in REQUIRED_FILES.items():
        assert name in files, f"the guide has no file={name} block"
        assert files[name].lang == lang, f"file={name} should be a ```{lang} block"
    entry_points = configparser.ConfigParser()
    entry_points.read_string(files[ENTRY_POINTS].text)
    assert dict(entry_points["backoffice.plugins"]) == {PLUGIN: PLUGIN}

    pyproject = tomllib.loads(files["pyproject.toml"].text)
    assert pyproject["project"]["name"] == DIST_NAME
    assert pyproject["project"]["entry-points"]["backoffice.plugins"] == {PLUGIN: PLUGIN}
    patterns = pyproject["tool"]["setuptools"]["package-data"][PLUGIN]
    for name in files:
        if not name.startswith(PLUGIN + "/"):
            continue  # pyproject.toml, entry_points.txt
        inside = PurePosixPath(name).relative_to(PLUGIN).as_posix()
        if inside.endswith(".py") and "/" not in inside:
            continue  # modules of the package itself
        assert any(fnmatch.fnmatch(inside, p) for p in patterns), f"{name} would not be shipped"

    migration = files["visit_notes/migrations/visit_notes_0001.py"].text
    assert 'revision: str = "visit_notes_0001"' in migration
    assert "down_revision: str | Sequence[str] | None = None" in migration
    assert 'branch_labels: str | Sequence[str] | None = ("visit_notes",)' in migration
    assert 'depends_on: str | Sequence[str] | None = "core_0001"' in migration


# --- every block of the walk-through runs --------------------------------------------


def walk_through_blocks() -> list[Block]:
    text = guide_text()
    start, end = (text.index(heading) for heading in WALK_THROUGH)
    first_line, last_line = text[:start].count("\n") + 1, text[:end].count("\n") + 1
    return [b for b in code_blocks(text) if first_line <= b.line <= last_line]


def test_every_block_of_the_walk_through_is_a_file_or_a_command_that_runs() -> None:
    lines = guide_text().splitlines()
    for block in walk_through_blocks():
        info = lines[block.line - 1]
        assert block.file is not None or info.strip() == "```console run", (
            f"line {block.line}: a walk-through block must be a file= block or ```console run"
        )


def console_commands() -> list[list[str]]:
    """The ``$ ...`` lines of the walk-through's console blocks, comments dropped."""
    commands: list[list[str]] = []
    for block in walk_through_blocks():
        if block.file is not None:
            continue
        for line in block.text.splitlines():
            if line.startswith("$ "):
                words = shlex.split(line[2:], comments=True)
                if words:
                    commands.append(words)
    return commands


@pytest.mark.live
def test_the_walk_through_commands_run_in_a_fresh_environment(
    tmp_path: Path, plugin_environment: PluginEnvironment, databases: DatabaseFactory
) -> None:
    """The project exactly as the guide writes it, installed with pip -e, migrated with a
    revision the host autogenerates, checked, served, and its own tests run."""
    project = tmp_path / "visit-notes-plugin"
    migration = "visit_notes/migrations/visit_notes_0001.py"
    for name, block in example_files().items():
        if name != ENTRY_POINTS and name != migration:  # the revision comes from Step 2
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(block.text, encoding="utf-8")
    server = LiveServer(
        database_url=databases.new("sqlite"),
        instance_dir=tmp_path / "live",
        python=plugin_environment.python,
    )
    ran: list[str] = []
    try:
        for words in console_commands():
            ran.append(" ".join(words))
            run_step(words, project, plugin_environment, server, migration)
    finally:
        server.stop()
    assert {"pip", "mkdir", "backoffice", "pytest"} <= {r.split()[0] for r in ran}, ran


def run_step(
    words: list[str],
    project: Path,
    environment: PluginEnvironment,
    server: LiveServer,
    migration: str,
) -> None:
    program, args = words[0], words[1:]
    if program == "mkdir":
        (project / args[-1]).mkdir(parents=True, exist_ok=True)
    elif program == "pip":
        assert args == ["install", "-e", "."], words
        environment.pip_install(project, editable=True)
    elif program == "pytest":
        done = environment.run("-m", "pytest", "-p", "no:cacheprovider", "-q", *args, cwd=project)
        assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout
    elif program == "backoffice" and args == ["run"]:
        server.start()
        admin = live_login(server.url, "admin")
        board = admin.get(server.url + "/visit-notes/board/", timeout=10)
        assert board.status_code == 200 and 'data-section="Visit Notes"' in board.text
    elif program == "backoffice":
        done = server.cli(*args)
        assert done.returncode == 0, f"{words}: {done.stderr[-3000:]}"
        if args[:2] == ["plugins", "list"]:
            assert re.search(r"^visit_notes\s+0\.1\.0\s+enabled", done.stdout, re.M), done.stdout
        if args[:2] == ["db", "check"]:
            assert "Database matches the models." in done.stdout
        if args[:2] == ["db", "revision"]:
            wrote = re.search(r"^Wrote (\S+)$", done.stdout, re.M)
            assert wrote, done.stdout
            written = Path(wrote.group(1))
            assert written.parent == project / "visit_notes" / "migrations", done.stdout
            generated = written.read_text(encoding="utf-8")
            assert "branch_labels" in generated and "('visit_notes',)" in generated
            assert "op.create_table(" in generated and "'visit_notes_note'" in generated
            # "we renamed the generated random id to visit_notes_0001": the guide's file.
            written.unlink()
            (project / migration).write_text(example_files()[migration].text, encoding="utf-8")
    else:
        pytest.fail(f"the walk-through runs a command this test does not know: {words}")
