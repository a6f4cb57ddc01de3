"""The demo practice that ``make run`` seeds into an empty database."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from core import access, roles
from core.database import db
from core.models import Client
from core.plugins import plugin_manager

DEMO_USERS = (
    ("admin", "Ada", "Admin", roles.ADMIN),
    ("secadmin", "Sam", "Secure", roles.SECURITY_ADMIN),
    ("practiceadmin", "Pat", "Manager", roles.PRACTICE_ADMIN),
    ("clinician1", "Casey", "Morgan", roles.CLINICIAN),
    ("clinician2", "Jordan", "Lee", roles.CLINICIAN),
    ("frontdesk", "Riley", "Desk", roles.STAFF),
)

DEMO_CLIENTS = (
    ("Alex", "Rivera", dt.date(1988, 4, 12), "alex.rivera@example.com", "+15555550101"),
    ("Brooke", "Chen", dt.date(1975, 9, 30), "brooke.chen@example.com", "+15555550102"),
    ("Devon", "Patel", dt.date(2001, 1, 5), None, "+15555550103"),
    ("Emery", "Johnson", dt.date(1969, 11, 21), "emery.johnson@example.com", None),
)


def seed(only_if_empty: bool = False) -> str | None:
    """Create the demo users and clients; returns the password, or None when skipped."""
    sm = current_app.extensions["appbuilder"].sm
    if only_if_empty and sm.count_users() > 0:
        return None
    password = demo_password()
    roles.sync()
    for username, first, last, role_name in DEMO_USERS:
        user = sm.find_user(username=username)
        if user is None:
            sm.add_user(
                username,
                first,
                last,
                f"{username}@demo.practice",
                sm.find_role(role_name),
                password=password,
            )
        else:
            sm.reset_password(user.id, password)
    for username, *_rest in DEMO_USERS:
        access.access_of(sm.find_user(username=username).id).telehealth_enabled = True
    db.session.commit()
    if db.session.scalar(select(func.count()).select_from(Client)) == 0:
        for first, last, born, email, phone in DEMO_CLIENTS:
            db.session.add(
                Client(
                    first_name=first, last_name=last, date_of_birth=born, email=email, phone=phone
                )
            )
        db.session.commit()
    plugin_manager().call_each("backoffice_seed_demo", password=password)
    return password


def demo_password() -> str:
    """``BACKOFFICE_DEMO_PASSWORD``, else one generated once and kept in the instance folder."""
    if current_app.config["DEMO_PASSWORD"]:
        return str(current_app.config["DEMO_PASSWORD"])
    path = Path(current_app.instance_path) / "demo_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip()


def banner(password: str | None) -> str:
    host, port = current_app.config["HOST"], current_app.config["PORT"]
    if password is None:
        stored = Path(current_app.instance_path) / "demo_password"
        if current_app.config["DEMO_PASSWORD"] or stored.exists():
            password = demo_password()
        else:
            return f"Users exist already. Open http://{host}:{port}/ and log in."
    lines = [f"Open http://{host}:{port}/ and log in as one of (password: {password}):"]
    lines += [f"  {username:<14} {role}" for username, _f, _l, role in DEMO_USERS]
    return "\n".join(lines)
