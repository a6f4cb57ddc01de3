"""The host's own tables: plugin switches, audit log, outbound messages and clients."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class PluginState(Model):
    """The persisted on/off switch of one plugin (no row: the plugin's default)."""

    __tablename__ = "bo_plugin_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    changed_by: Mapped[str | None] = mapped_column(String(100))


class AuditEntry(Model):
    """One line of the append-only audit log."""

    __tablename__ = "bo_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False, index=True)
    actor: Mapped[str | None] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100), nullable=False, default="core")
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict | None] = mapped_column(JSON)


class OutboundMessage(Model):
    """An email or SMS and what became of it."""

    __tablename__ = "bo_outbound_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)  # email | sms
    recipient: Mapped[str] = mapped_column(String(200), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(100), nullable=False, default="core")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    @property
    def problem(self) -> str | None:
        """Why it failed, as a plain sentence for staff (``None`` when it did not)."""
        if self.status != "failed":
            return None
        from core.messaging import failure_sentence

        return failure_sentence(self.channel, self.error)


class Client(Model):
    """A patient of the practice. Patients have no login; they hold tokens."""

    __tablename__ = "bo_client"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __repr__(self) -> str:
        return self.full_name


class AppliedGrant(Model):
    """A default grant already applied once; an admin who later revokes it is obeyed."""

    __tablename__ = "bo_applied_grant"

    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    permission: Mapped[str] = mapped_column(String(100), primary_key=True)
    view_menu: Mapped[str] = mapped_column(String(250), primary_key=True)
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class UserAccess(Model):
    """Per-user security state the host adds to FAB's users."""

    __tablename__ = "bo_user_access"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True
    )
    telehealth_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The one live login of this user; a new login replaces it and ends the older one.
    session_id: Mapped[str | None] = mapped_column(String(64))
    session_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The login's last activity as the server saw it, written in batches (core.access): a
    # socket that never makes a request is idle-logged-off by it.
    last_active_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class GroupRuleState(Model):
    """The switch of one group rule for one role (no row: the rule's default)."""

    __tablename__ = "bo_group_rule_state"

    role_id: Mapped[int] = mapped_column(
        ForeignKey("ab_role.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    changed_by: Mapped[str | None] = mapped_column(String(100))


class PatientInvite(Model):
    """An unguessable, expiring link that lets a patient (no account) in.

    Only a hash of the token is stored, so a database leak does not leak working links.
    """

    __tablename__ = "bo_patient_invite"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # see core.invites.KINDS
    client_id: Mapped[int | None] = mapped_column(ForeignKey("bo_client.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(100), nullable=False, default="core")
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PracticeSetting(Model):
    """A practice setting changed in Settings (no row: the environment or config default)."""

    __tablename__ = "bo_practice_setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[object | None] = mapped_column(JSON)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    changed_by: Mapped[str | None] = mapped_column(String(100))


class JoinCode(Model):
    """A code of the practice's external waiting-room link (``provider_id``: one clinician's).

    A rotated code is retired at ``retired_at`` and keeps opening the waiting room until
    ``valid_until`` (the grace period); after that it answers "contact the practice".
    """

    __tablename__ = "bo_join_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(100))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
