"""Make a bench database with the server's own code: run with cwd = the server root.

``python PATH/bench/make_db.py BACKEND ROOT STAFF``: a migrated, demo-seeded database
(``tests.conftest.DatabaseFactory`` of that checkout) plus STAFF users ``bench_staff_N``
with telehealth enabled. Prints one JSON line: ``{"url": ..., "created": [...]}`` (the
PostgreSQL databases to drop at the end).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

STAFF_PREFIX = "bench_staff_"


def staff_username(number: int) -> str:
    return f"{STAFF_PREFIX}{number}"


def add_staff(database_url: str, root: Path, count: int) -> None:
    from core import access
    from core.app import create_app
    from core.database import db
    from tests.conftest import TEST_PASSWORD, base_overrides

    app = create_app(base_overrides(database_url, root / "instance"))
    with app.app_context():
        sm = app.extensions["appbuilder"].sm
        for number in range(1, count + 1):
            role = sm.find_role("Clinician" if number % 2 else "Staff")
            username = staff_username(number)
            user = sm.add_user(
                username,
                "Bench",
                f"Staff {number}",
                f"{username}@bench.test",
                role,
                password=TEST_PASSWORD,
            )
            if not user:
                raise RuntimeError(f"could not add {username}")
            access.access_of(user.id).telehealth_enabled = True
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    sys.path[0] = os.getcwd()  # the server root's core/, plugins/ and tests/, not bench/
    from tests.conftest import DatabaseFactory

    backend, root, staff = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    root.mkdir(parents=True, exist_ok=True)
    factory = DatabaseFactory(root=root)
    url = factory.new(backend)
    add_staff(url, root, staff)
    print(json.dumps({"url": url, "created": factory.created}))


if __name__ == "__main__":
    main()
