"""Bench databases: built once per backend by the server's own code, then copied."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import DatabaseFactory

MAKE_DB = Path(__file__).with_name("make_db.py")


@dataclass
class BenchDatabases:
    """Fresh databases with the demo and the bench's staff users, one per ``new`` call.

    The first database of a backend is made in a subprocess that runs in ``server_root``
    (its migrations, its demo, its users); later ones are copies of it, as
    :class:`tests.conftest.DatabaseFactory` copies its templates.
    """

    root: Path
    server_root: Path
    staff: int
    factory: DatabaseFactory = field(init=False)

    def __post_init__(self) -> None:
        self.factory = DatabaseFactory(root=self.root)

    def new(self, backend: str) -> str:
        if backend not in self.factory.templates:
            self.factory.templates[backend] = self._make_template(backend)
        return self.factory.new(backend)

    def _make_template(self, backend: str) -> str:
        folder = self.root / f"template-{backend}"
        done = subprocess.run(
            [sys.executable, str(MAKE_DB), backend, str(folder), str(self.staff)],
            cwd=self.server_root,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            raise RuntimeError(f"making the {backend} database failed:\n{done.stderr[-3000:]}")
        last = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]
        made = json.loads(last)
        self.factory.created.extend(made["created"])
        return str(made["url"])

    def drop_all(self) -> None:
        self.factory.drop_all()
