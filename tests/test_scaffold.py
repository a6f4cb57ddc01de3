"""``backoffice new-plugin``: the scaffold installs with pip, passes its own tests on the
host's installed fixtures, and is served by a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.scaffold import ScaffoldError, check_name, create
from core.testing import DatabaseFactory, LiveServer, PluginEnvironment, live_login

NAME = "clinic_tasks"
SLUG = "clinic-tasks"


def backoffice(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.live
def test_a_scaffolded_plugin_installs_passes_its_tests_and_is_served(
    tmp_path: Path, plugin_environment: PluginEnvironment, databases: DatabaseFactory
) -> None:
    made = backoffice("new-plugin", NAME, "--dir", str(tmp_path), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / NAME
    shape = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert {
        "pyproject.toml",
        f"{NAME}/__init__.py",
        f"{NAME}/models.py",
        f"{NAME}/views.py",
        f"{NAME}/events.py",
        f"{NAME}/schemas.py",
        f"{NAME}/service.py",
        f"{NAME}/migrations/{NAME}_0001.py",
        f"{NAME}/templates/{NAME}/page.html",
        f"{NAME}/static/{NAME}/page.js",
        f"{NAME}/help/{SLUG}.md",
        f"tests/test_{NAME}.py",
    } <= shape
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "E,F,W,I,B,UP,SIM", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout

    plugin_environment.pip_install(project)
    shipped = plugin_environment.run(
        "-c",
        f"import importlib.resources as r; print(r.files('{NAME}').joinpath('help', '{SLUG}.md')"
        ".read_text()[:40])",
    )
    assert "Clinic Tasks" in shipped.stdout

    # Its own tests, on the host's fixtures (the pytest11 entry point), as a partner runs them.
    tests = plugin_environment.run("-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=project)
    assert " passed" in tests.stdout and "failed" not in tests.stdout, tests.stdout

    server = LiveServer(
        database_url=databases.new("sqlite"),
        instance_dir=tmp_path / "live",
        python=plugin_environment.python,
    )
    upgraded = server.cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    server.start()
    try:
        health = {p["name"]: p["state"] for p in server_health(server)}
        assert health[NAME] == "enabled"
        admin = live_login(server.url, "admin")
        page = admin.get(f"{server.url}/{SLUG}/", timeout=10)
        assert page.status_code == 200, page.text[:300]
        assert 'data-section="Clinic Tasks"' in page.text
        script = admin.get(f"{server.url}/plugin-static/{NAME}/{NAME}/page.js", timeout=10)
        assert script.status_code == 200 and "window.backofficeSocket" in script.text
    finally:
        server.stop()


def server_health(server: LiveServer) -> list[dict[str, str]]:
    import requests

    plugins: list[dict[str, str]] = requests.get(server.url + "/health", timeout=10).json()[
        "plugins"
    ]
    return plugins


def test_an_unusable_name_is_refused_with_the_reason_and_writes_nothing(tmp_path: Path) -> None:
    made = backoffice("new-plugin", "Clinic-Tasks", "--dir", str(tmp_path), cwd=tmp_path)
    assert made.returncode != 0
    assert "cannot be a plugin name" in made.stderr and "Traceback" not in made.stderr
    assert not any(tmp_path.iterdir())  # not even an instance folder: no app was built


@pytest.mark.parametrize("bad", ["Clinic", "clinic-tasks", "x", "import", "core", "a__b", "a_"])
def test_names_that_cannot_be_a_package_event_prefix_and_table_prefix(bad: str) -> None:
    with pytest.raises(ScaffoldError, match="plugin name|reserved"):
        check_name(bad)


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / NAME).mkdir()
    with pytest.raises(ScaffoldError, match="already exists"):
        create(NAME, tmp_path)
