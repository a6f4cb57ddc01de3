"""The example partner plugin (examples/intake), installed from its own pyproject with a
real ``pip install``: its own tests pass on the host's installed fixtures, a real server
serves it, and ``backoffice plugins uninstall`` takes it out of the database again."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect, text

from core.testing import DatabaseFactory, LiveServer, PluginEnvironment, live_login
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "intake"
MISSING = "The database holds migration 'intake_0001' of a plugin that is no longer installed"


def installed_copy(tmp_path: Path, environment: PluginEnvironment) -> Path:
    """Build from a copy: setuptools writes build/ and *.egg-info next to the sources."""
    project = tmp_path / "intake"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    environment.pip_install(project)
    return project


def database_state(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                "table": inspect(connection).has_table("intake_form"),
                "view_menus": set(
                    connection.scalars(
                        text("SELECT name FROM ab_view_menu WHERE name LIKE 'Intake%'")
                    )
                ),
                "switch": connection.scalar(
                    text("SELECT count(*) FROM bo_plugin_state WHERE name = 'intake'")
                ),
                "rules": connection.scalar(
                    text("SELECT count(*) FROM bo_group_rule_state WHERE rule LIKE 'Intake:%'")
                ),
                "grants": connection.scalar(
                    text("SELECT count(*) FROM bo_applied_grant WHERE view_menu LIKE 'Intake%'")
                ),
                "uninstalls": connection.scalar(
                    text("SELECT count(*) FROM bo_audit_log WHERE action = 'plugin.uninstalled'")
                ),
            }
    finally:
        engine.dispose()


@pytest.mark.live
def test_the_example_installs_passes_its_own_tests_and_is_served(
    tmp_path: Path, plugin_environment: PluginEnvironment, databases: DatabaseFactory
) -> None:
    project = installed_copy(tmp_path, plugin_environment)
    tests = plugin_environment.run("-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=project)
    assert " passed" in tests.stdout and "failed" not in tests.stdout, tests.stdout

    server = LiveServer(
        database_url=databases.new("sqlite"),
        instance_dir=tmp_path / "live",
        python=plugin_environment.python,
    )
    assert server.cli("db", "upgrade").returncode == 0
    server.start()
    try:
        health = requests.get(server.url + "/health", timeout=10).json()
        assert {p["name"]: p["state"] for p in health["plugins"]}["intake"] == "enabled"
        desk = live_login(server.url, "frontdesk")
        page = desk.get(server.url + "/intake/forms/list/", timeout=10)
        assert page.status_code == 200 and 'data-menu="Questionnaires"' in page.text
        events = live_login(server.url, "admin").get(server.url + "/admin/events/", timeout=10)
        assert 'data-event="intake.completed" data-plugin="intake"' in events.text
    finally:
        server.stop()


@pytest.mark.live
def test_uninstall_downgrades_and_removes_its_rows_and_a_removed_branch_says_so(
    tmp_path: Path, plugin_environment: PluginEnvironment, databases: DatabaseFactory
) -> None:
    installed_copy(tmp_path, plugin_environment)
    url = databases.new("sqlite")
    server = LiveServer(
        database_url=url, instance_dir=tmp_path / "cli", python=plugin_environment.python
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return server.cli(*args)

    assert cli("db", "upgrade").returncode == 0
    assert cli("plugins", "disable", "intake").returncode == 0
    before = database_state(url)
    assert before["table"] is True and before["switch"] == 1
    assert {"IntakeForm", "IntakeAnswer", "Intake"} <= before["view_menus"]  # type: ignore[operator]
    assert before["grants"]

    done = cli("plugins", "uninstall", "intake")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "migration branch downgraded to base" in done.stdout
    after = database_state(url)
    assert after == {
        "table": False,
        "view_menus": set(),
        "switch": 0,
        "rules": 0,
        "grants": 0,
        "uninstalls": 1,
    }

    # Installed again and migrated, then its package removed without uninstalling: the
    # host (which no longer has it) refuses to migrate with one clear sentence.
    assert cli("db", "upgrade").returncode == 0
    bare = LiveServer(database_url=url, instance_dir=tmp_path / "bare", python=sys.executable)
    refused = bare.cli("db", "upgrade")
    assert refused.returncode == 1
    assert MISSING in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
    assert "backoffice plugins uninstall NAME" in refused.stderr


def test_uninstall_refuses_what_it_cannot_do(tmp_path: Path, databases: DatabaseFactory) -> None:
    server = LiveServer(database_url=databases.new("sqlite"), instance_dir=tmp_path / "cli")
    missing = server.cli("plugins", "uninstall", "nothing_here")
    assert missing.returncode == 1 and "no plugin named 'nothing_here'" in missing.stderr
    needed = server.cli("plugins", "uninstall", "consent")  # the calendar requires it
    assert needed.returncode == 1 and "require it" in needed.stderr, needed.stderr
    assert "Traceback" not in missing.stderr + needed.stderr
