"""One commit for a change and every record of it: ``emit_on_commit`` runs the recorders
(``backoffice_record_event``) in the emitter's transaction, each in a savepoint, and the
listeners (``backoffice_domain_event``) only after ``commit`` succeeded."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from core.api import audit, commit, emit_domain_event, emit_on_commit
from core.database import db
from core.models import AuditEntry
from tests.commit_counter import count_commits, engine_of
from tests.test_partner_kit import installed_site

PLUGINS = {
    "bo_tx_recorder": """
        from core.api import DomainEvent, EventSpec, PluginInfo, audit, hookimpl
        from marshmallow import Schema, fields
        from bo_tx_shared import HEARD


        class PingedSchema(Schema):
            n = fields.Integer(strict=True, required=True)


        @hookimpl
        def backoffice_plugin_info():
            return PluginInfo(title="recorder", version="0.1.0")


        @hookimpl
        def backoffice_declared_events():
            return [EventSpec("tx.pinged", "A test ping.", PingedSchema)]


        @hookimpl
        def backoffice_record_event(event: DomainEvent) -> None:
            HEARD.append(("recorder", "record", event.payload["n"]))
            audit("tx.recorded", target=f"ping:{event.payload['n']}", source="recorder")
    """,
    "bo_tx_broken": """
        from core.api import DomainEvent, PluginInfo, audit, db_session, hookimpl
        from bo_tx_shared import HEARD


        @hookimpl
        def backoffice_plugin_info():
            return PluginInfo(title="broken", version="0.1.0")


        @hookimpl
        def backoffice_record_event(event: DomainEvent) -> None:
            HEARD.append(("broken", "record", event.payload["n"]))
            audit("tx.half_recorded", target=f"ping:{event.payload['n']}", source="broken")
            db_session().flush()
            raise RuntimeError("recorder broke after writing")
    """,
    "bo_tx_listener": """
        from core.api import DomainEvent, PluginInfo, db_session, hookimpl
        from core.models import AuditEntry
        from sqlalchemy import select
        from bo_tx_shared import HEARD


        @hookimpl
        def backoffice_plugin_info():
            return PluginInfo(title="listener", version="0.1.0")


        @hookimpl
        def backoffice_domain_event(event: DomainEvent) -> None:
            if event.name == "tx.pinged":
                # Read on a connection of its own: what it sees was committed.
                with db_session().get_bind().connect() as other:
                    query = select(AuditEntry.action).where(AuditEntry.action.like("tx.%"))
                    saved = other.scalars(query).all()
                HEARD.append(("listener", "heard", event.payload["n"], sorted(set(saved))))
    """,
}


@pytest.fixture
def tx_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from installed_site(
        tmp_path,
        monkeypatch,
        "bo-tx-plugins",
        {module: textwrap.dedent(source) for module, source in PLUGINS.items()},
        ("bo_tx_shared", "HEARD: list[tuple[object, ...]] = []\n"),
    )


def heard() -> list[tuple[object, ...]]:
    import bo_tx_shared  # type: ignore[import-not-found]

    return list(bo_tx_shared.HEARD)


def actions() -> list[str]:
    return sorted(
        db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("tx.%")))
    )


def test_the_change_and_its_records_are_one_commit_and_listeners_hear_after_it(
    tx_plugins: Path, app: Flask
) -> None:
    with app.app_context(), count_commits(engine_of(app)) as commits:
        audit("tx.change", target="ping:1", source="test")
        emit_on_commit("tx.pinged", {"n": 1}, source="test")
        # Recorders ran at once, in the transaction (after the failure each alone, again);
        # nobody was told yet.
        assert set(heard()) == {("broken", "record", 1), ("recorder", "record", 1)}
        commit()
        assert commits.count == 1
    listener = [h for h in heard() if h[0] == "listener"]
    assert listener == [("listener", "heard", 1, ["tx.change", "tx.recorded"])]
    with app.app_context():
        # The broken recorder's own row went with its savepoint; everything else stayed.
        assert actions() == ["tx.change", "tx.recorded"]


def test_a_rolled_back_change_is_never_heard_of(tx_plugins: Path, app: Flask) -> None:
    with app.app_context():
        audit("tx.change", target="ping:2", source="test")
        emit_on_commit("tx.pinged", {"n": 2}, source="test")
        db.session.rollback()
        commit()  # a later commit in the same session delivers nothing stale
        assert actions() == []
    assert not [h for h in heard() if h[0] == "listener"]


def test_emitting_after_a_commit_still_records_and_delivers(tx_plugins: Path, app: Flask) -> None:
    with app.app_context(), count_commits(engine_of(app)) as commits:
        audit("tx.change", target="ping:3", source="test")
        db.session.commit()
        emit_domain_event("tx.pinged", {"n": 3}, source="test")
        assert commits.count == 2  # the emitter's, then the records' own
        assert actions() == ["tx.change", "tx.recorded"]
    assert [h[:3] for h in heard() if h[0] == "listener"] == [("listener", "heard", 3)]
