"""The ``backoffice`` command against a real database, as an admin would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_SECRET, LiveServer, live_login


def backoffice(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BACKOFFICE_DATABASE_URL": database_url,
        "BACKOFFICE_SECRET_KEY": TEST_SECRET,
        "BACKOFFICE_INSTANCE_DIR": str(tmp_path / "instance"),
        "BACKOFFICE_DEMO_PASSWORD": "Cli-pass-123",
    }
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugins_list_json_has_every_key(database_url: str, tmp_path: Path) -> None:
    result = backoffice(database_url, tmp_path, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    tools = next(row for row in rows if row["name"] == "tools")
    assert tools == {
        "name": "tools",
        "version": "1.0.0",
        "title": "Tools",
        "enabled": True,
        "state": "enabled",
        "error": None,
        "requires": [],
        "menu_section": "Tools",
    }


def test_disable_and_enable(database_url: str, tmp_path: Path) -> None:
    result = backoffice(database_url, tmp_path, "plugins", "disable", "tools")
    assert result.returncode == 0, result.stderr
    assert "tools disabled" in result.stdout
    listed = json.loads(backoffice(database_url, tmp_path, "plugins", "list", "--json").stdout)
    assert next(r for r in listed if r["name"] == "tools")["state"] == "disabled"
    assert backoffice(database_url, tmp_path, "plugins", "enable", "tools").returncode == 0


def test_unknown_plugin_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    result = backoffice(database_url, tmp_path, "plugins", "disable", "nope")
    assert result.returncode != 0
    assert "no plugin named 'nope' is installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_setting_that_cannot_work_is_a_clear_error(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKOFFICE_PRACTICE_TIMEZONE", "Mars/Olympus")
    result = backoffice(database_url, tmp_path, "plugins", "list")
    assert result.returncode != 0
    assert "PRACTICE_TIMEZONE 'Mars/Olympus' is not a time zone" in result.stderr
    assert "Traceback" not in result.stderr


def test_fresh_database_upgrade_seed_and_check(
    databases: object, backend: str, tmp_path: Path
) -> None:
    url = databases.empty(backend)  # type: ignore[attr-defined]
    upgrade = backoffice(url, tmp_path, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert backoffice(url, tmp_path, "db", "upgrade").returncode == 0  # idempotent
    seeded = backoffice(url, tmp_path, "seed-demo", "--if-empty")
    assert seeded.returncode == 0, seeded.stderr
    assert "password: Cli-pass-123" in seeded.stdout
    for username in ("admin", "secadmin", "practiceadmin", "clinician1", "clinician2", "frontdesk"):
        assert username in seeded.stdout
    again = backoffice(url, tmp_path, "seed-demo", "--if-empty")
    assert again.returncode == 0 and "password: Cli-pass-123" in again.stdout
    check = backoffice(url, tmp_path, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_cli_switch_reaches_a_running_server_without_restart(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(async_mode="eventlet")
    session = live_login(server.url, "clinician1")
    page = server.url + "/tools/speedtest/"
    assert session.get(page, timeout=10).status_code == 200
    for args, status in (
        (("plugins", "disable", "tools"), 404),
        (("plugins", "enable", "tools"), 200),
    ):
        assert server.cli(*args).returncode == 0
        switched_at = time.monotonic()
        while session.get(page, timeout=10).status_code != status:
            assert time.monotonic() - switched_at < 2.0, f"still not {status} after 2 s"
            time.sleep(0.1)


def test_a_plugin_branch_can_be_downgraded_and_upgraded_again(
    databases: object, tmp_path: Path
) -> None:
    url = databases.empty("sqlite")  # type: ignore[attr-defined]
    assert backoffice(url, tmp_path, "db", "upgrade").returncode == 0
    down = backoffice(url, tmp_path, "db", "downgrade", "tools@base")
    assert down.returncode == 0, down.stderr
    drift = backoffice(url, tmp_path, "db", "check")
    assert drift.returncode == 1 and "tools_speed_test_result" in drift.stdout
    assert backoffice(url, tmp_path, "db", "upgrade").returncode == 0
    assert backoffice(url, tmp_path, "db", "check").returncode == 0
