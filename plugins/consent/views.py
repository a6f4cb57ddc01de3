"""The consent screens (staff), the consent records, the admin pages and the portal page."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import User
from flask_login import current_user
from sqlalchemy import func, select
from wtforms.validators import ValidationError as FormValidationError

from core.api import (
    MAX_ID,
    Client,
    InvalidRecipient,
    PatientInvite,
    PortalActivity,
    audit,
    create_invite,
    db_session,
    emit_domain_event,
    portal_client,
    portal_required,
    practice_timezone,
    public_route,
    resolve_invite,
    revoke_invite,
    setting,
)
from plugins.consent.events import announce_decision, announce_record
from plugins.consent.models import (
    ConsentFormVersion,
    ConsentRecord,
    ConsentRequest,
    MessageTemplate,
    SessionLink,
    text_hash,
    utcnow,
)
from plugins.consent.service import (
    PLACEHOLDERS,
    SOURCE,
    ConsentFlowError,
    Ticket,
    current_consent,
    current_form,
    deliver,
    form_version,
    invite_url,
    latest_record,
    message_values,
    new_record,
    next_form_version,
    person,
    read_ticket,
    recipient_for,
    save_contact,
    template_problems,
)

PNG_PREFIX = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"
PAGE_SIZE = 50


def local(moment: dt.datetime | None) -> str:
    """A naive UTC time in the practice's zone, for people."""
    if moment is None:
        return ""
    zone = practice_timezone()
    shown = moment.replace(tzinfo=dt.UTC).astimezone(zone)
    return shown.strftime("%Y-%m-%d %H:%M ") + zone.key


def _pending_request(client_id: int, reference: str) -> ConsentRequest | None:
    """The newest form sent for this appointment that is still unanswered."""
    session = db_session()
    answered = select(ConsentRecord.request_id).where(ConsentRecord.request_id.is_not(None))
    return session.scalar(
        select(ConsentRequest)
        .join(PatientInvite, PatientInvite.id == ConsentRequest.invite_id)
        .where(
            ConsentRequest.client_id == client_id,
            ConsentRequest.reference == reference,
            ConsentRequest.id.not_in(answered),
            PatientInvite.revoked_at.is_(None),
            PatientInvite.expires_at > utcnow(),
        )
        .order_by(ConsentRequest.created_at.desc(), ConsentRequest.id.desc())
        .limit(1)
    )


# --- the clinician's screens ---------------------------------------------------------------


class ConsentFlowView(BaseView):
    """Start Telehealth Session: consent (verbal or in the portal), then the session link."""

    route_base = "/consent"
    default_view = "start"
    class_permission_name = "TelehealthConsent"
    method_permission_name = {
        "start": "record",
        "verbal": "record",
        "send_form": "record",
        "link": "record",
        "send_link": "record",
        "link_status": "record",
    }
    base_permissions = ["can_record"]

    @expose("/start")
    @has_access
    def start(self) -> Any:
        try:
            ticket = read_ticket(request.args.get("ticket"))
            client = ticket.client
        except ConsentFlowError as exc:
            return self._problem(exc.message)
        consent = current_consent(client.id, ticket.reference)
        if consent is not None:
            audit(
                "consent.step_skipped",
                target=f"consent:{consent.id}",
                details={"client_id": client.id, "reference": ticket.reference},
                source=SOURCE,
            )
            db_session().commit()
            flash(
                f"{client.full_name} has a valid consent on file ({consent.kind}, form version "
                f"{consent.form_version}, valid until {local(consent.valid_until)}).",
                "info",
            )
            return redirect(url_for("ConsentFlowView.link", ticket=ticket.token), 303)
        return self._start_page(ticket, client)

    @expose("/verbal", methods=["POST"])
    @has_access
    def verbal(self) -> Any:
        try:
            ticket = read_ticket(request.form.get("ticket"))
            client = ticket.client
        except ConsentFlowError as exc:
            return self._problem(exc.message)
        form = current_form()
        pending = _pending_request(client.id, ticket.reference)
        if pending is not None:  # the form in the portal is no longer needed
            revoke_invite(pending.invite_id, source=SOURCE, commit=False)
        record = new_record(
            client_id=client.id,
            kind="verbal",
            decision="accepted",
            form_version=form.version,
            form_hash=form.body_hash,
            clinician_id=current_user.id,
            reference=ticket.reference,
        )
        db_session().add(record)
        db_session().flush()
        audit(
            "consent.verbal_recorded",
            target=f"consent:{record.id}",
            details={
                "client_id": client.id,
                "form_version": form.version,
                "reference": ticket.reference,
            },
            source=SOURCE,
        )
        db_session().commit()
        announce_record(record)
        flash(
            f"Verbal consent of {client.full_name} recorded (form version {form.version}).",
            "success",
        )
        return redirect(url_for("ConsentFlowView.link", ticket=ticket.token), 303)

    @expose("/send", methods=["POST"])
    @has_access
    def send_form(self) -> Any:
        """Send Consent Form to Portal: a portal invite, by SMS or email."""
        try:
            ticket = read_ticket(request.form.get("ticket"))
            client = ticket.client
        except ConsentFlowError as exc:
            return self._problem(exc.message)
        channel = request.form.get("channel", "")
        try:
            recipient, added = recipient_for(
                client, channel, request.form.get("phone" if channel == "sms" else "email")
            )
        except ConsentFlowError as exc:
            return self._start_page(ticket, client, errors={exc.field or "channel": exc.message})
        if added:
            save_contact(client, channel, recipient)
        form = current_form()
        pending = _pending_request(client.id, ticket.reference)
        if pending is not None:  # a new form replaces the one still unanswered
            revoke_invite(pending.invite_id, source=SOURCE, commit=False)
        ttl = dt.timedelta(hours=int(setting("CONSENT_PORTAL_LINK_HOURS")))
        issued = create_invite(
            "portal",
            source=SOURCE,
            client_id=client.id,
            provider_id=ticket.provider_id,
            reference=ticket.reference,
            ttl=ttl,
            commit=False,
        )
        portal_url = url_for("consent_portal.form", token=issued.token, _external=True)
        consent_request = ConsentRequest(
            client_id=client.id,
            clinician_id=current_user.id,
            invite_id=issued.invite.id,
            reference=ticket.reference,
            form_version=form.version,
            channel=channel,
            ticket=ticket.token,
        )
        db_session().add(consent_request)
        db_session().flush()
        provider = db_session().get(User, ticket.provider_id)
        values = message_values(client, person(provider), portal_url, ticket.appointment_time)
        try:
            message = deliver("consent_request", channel, recipient, values)
        except InvalidRecipient as exc:  # refused before anything was committed
            db_session().rollback()
            return self._start_page(
                ticket, client, errors={"channel": f"The message cannot be sent: {exc}"}
            )
        consent_request.message_id = message.id
        consent_request.message_status = message.status
        audit(
            "consent.form_sent",
            target=f"consent_request:{consent_request.id}",
            details={
                "client_id": client.id,
                "channel": channel,
                "status": message.status,
                "form_version": form.version,
                "reference": ticket.reference,
            },
            source=SOURCE,
        )
        db_session().commit()
        if message.status == "failed":
            flash(f"The consent form was not sent. {message.problem}", "danger")
        else:
            flash(
                f"Consent form sent to {client.full_name} by {_channel(channel)} "
                f"({_delivery(message.status, channel)}). You will be notified when they answer.",
                "success",
            )
        return redirect(url_for("ConsentFlowView.start", ticket=ticket.token), 303)

    @expose("/link")
    @has_access
    def link(self) -> Any:
        """The session screen: choose SMS or email (add a missing one), then Next."""
        try:
            ticket = read_ticket(request.args.get("ticket"))
            client = ticket.client
        except ConsentFlowError as exc:
            return self._problem(exc.message)
        consent = current_consent(client.id, ticket.reference)
        if consent is None:
            flash("Record the client's consent before sending the session link.", "warning")
            return redirect(url_for("ConsentFlowView.start", ticket=ticket.token), 303)
        return self._link_page(ticket, client, consent)

    @expose("/link", methods=["POST"])
    @has_access
    def send_link(self) -> Any:
        """Next: create the session (an unguessable, expiring link) and send it."""
        try:
            ticket = read_ticket(request.form.get("ticket"))
            client = ticket.client
        except ConsentFlowError as exc:
            return self._problem(exc.message)
        consent = current_consent(client.id, ticket.reference)
        if consent is None:
            return self._problem("Record the client's consent before sending the session link.")
        channel = request.form.get("channel", "")
        try:
            recipient, added = recipient_for(
                client, channel, request.form.get("phone" if channel == "sms" else "email")
            )
        except ConsentFlowError as exc:
            return self._link_page(
                ticket, client, consent, errors={exc.field or "channel": exc.message}
            )
        if added:
            save_contact(client, channel, recipient)
        issued = create_invite(
            "appointment",
            source=SOURCE,
            client_id=client.id,
            provider_id=ticket.provider_id,
            # "<what>@<when>": the waiting room shows the appointment time from it.
            reference=f"{ticket.reference}@{ticket.starts_at}"
            if ticket.starts_at
            else ticket.reference,
            commit=False,
        )
        url = invite_url(issued)
        provider = db_session().get(User, ticket.provider_id)
        values = message_values(client, person(provider), url, ticket.appointment_time)
        try:
            message = deliver("session_link", channel, recipient, values)
        except InvalidRecipient as exc:  # refused before anything was committed
            db_session().rollback()
            return self._link_page(
                ticket, client, consent, errors={"channel": f"The link cannot be sent: {exc}"}
            )
        sent = SessionLink(
            client_id=client.id,
            provider_id=ticket.provider_id,
            reference=ticket.reference,
            invite_id=issued.invite.id,
            consent_id=consent.id,
            channel=channel,
            message_id=message.id,
            status=message.status,
            error=message.problem,
            sent_by=current_user.username,
        )
        db_session().add(sent)
        db_session().flush()
        audit(
            "consent.session_link_sent",
            target=f"session_link:{sent.id}",
            details={
                "client_id": client.id,
                "invite_id": issued.invite.id,
                "channel": channel,
                "status": message.status,
                "reference": ticket.reference,
            },
            source=SOURCE,
        )
        db_session().commit()
        emit_domain_event(
            "consent.session_link_sent",
            {
                "client_id": client.id,
                "reference": ticket.reference,
                "invite_id": issued.invite.id,
                "channel": channel,
                "status": message.status,
                "link_id": sent.id,
            },
            source=SOURCE,
        )
        return self.render_template(
            "consent/link_sent.html",
            sent=sent,
            client=client,
            ticket=ticket,
            recipient=message.recipient,
            url=url,
            delivery=_delivery(message.status, channel),
            channel_name=_channel(channel),
            expires=local(issued.invite.expires_at),
        )

    @expose("/links/<int:pk>")
    @has_access
    def link_status(self, pk: int) -> Any:
        sent = db_session().get(SessionLink, pk)
        if sent is None:
            abort(404)
        return self.render_template(
            "consent/link_sent.html",
            sent=sent,
            client=sent.client,
            ticket=None,
            recipient=None,
            url=None,
            delivery=_delivery(sent.status, sent.channel),
            channel_name=_channel(sent.channel),
            expires=None,
        )

    # --- pages

    def _problem(self, message: str) -> Any:
        return self.render_template("consent/problem.html", message=message), 400

    def _start_page(
        self, ticket: Ticket, client: Client, errors: dict[str, str] | None = None
    ) -> Any:
        pending = _pending_request(client.id, ticket.reference)
        last = latest_record(client.id)
        declined = last if last is not None and last.decision == "declined" else None
        form = current_form()
        return self.render_template(
            "consent/start.html",
            ticket=ticket,
            client=client,
            provider=db_session().get(User, ticket.provider_id),
            form=form,
            pending=pending,
            pending_sent=local(pending.created_at) if pending else "",
            declined=declined,
            declined_at=local(declined.recorded_at) if declined else "",
            errors=errors or {},
            channel=request.form.get("channel") or ("sms" if client.phone else "email"),
            typed=request.form,
            validity_days=int(setting("CONSENT_VALIDITY_DAYS")),
            channel_name=_channel,
        ), (400 if errors else 200)

    def _link_page(
        self,
        ticket: Ticket,
        client: Client,
        consent: ConsentRecord,
        errors: dict[str, str] | None = None,
    ) -> Any:
        return self.render_template(
            "consent/link.html",
            ticket=ticket,
            client=client,
            consent=consent,
            consent_at=local(consent.recorded_at),
            consent_until=local(consent.valid_until),
            provider=db_session().get(User, ticket.provider_id),
            errors=errors or {},
            channel=request.form.get("channel") or ("sms" if client.phone else "email"),
            typed=request.form,
        ), (400 if errors else 200)


def _channel(channel: str) -> str:
    return "SMS" if channel == "sms" else "email"


def _delivery(status: str, channel: str = "sms") -> str:
    return {
        "sent": "accepted by the mail server"
        if channel == "email"
        else "accepted by the SMS provider",
        "recorded": "recorded in the SMS outbox; no SMS provider is configured",
        "queued": "queued",
        "failed": "failed",
    }.get(status, status)


# --- consent records: view and print (PHI: every read is audited) ------------------------------


class ConsentRecordView(BaseView):
    route_base = "/consent/records"
    default_view = "list"
    class_permission_name = "ConsentRecord"
    method_permission_name = {"list": "read", "show": "read", "printable": "read"}
    base_permissions = ["can_read"]

    @expose("/")
    @has_access
    def list(self) -> Any:
        session = db_session()
        query = select(ConsentRecord)
        client_id = request.args.get("client_id", "")
        client = None
        if client_id:
            if not _is_id(client_id):
                flash("client_id must be the id of a client (a whole number).", "danger")
                return redirect(url_for("ConsentRecordView.list"))
            client = session.get(Client, int(client_id))
            query = query.where(ConsentRecord.client_id == int(client_id))
        page = _page_number(request.args.get("page", "1"))
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        records = list(
            session.scalars(
                query.order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
                .offset((page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
        )
        audit(
            "consent.records_listed",
            details={
                "client_id": client.id if client else None,
                "page": page,
                "records": [r.id for r in records],
            },
            source=SOURCE,
        )
        db_session().commit()
        return self.render_template(
            "consent/records.html",
            records=records,
            client=client,
            clients=list(session.scalars(select(Client).order_by(Client.last_name))),
            page=page,
            pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
            total=total,
            local=local,
            now=utcnow(),
        )

    @expose("/<int:pk>")
    @has_access
    def show(self, pk: int) -> Any:
        record = self._record(pk, "consent.record_viewed")
        return self.render_template("consent/record.html", **self._context(record))

    @expose("/<int:pk>/print")
    @has_access
    def printable(self, pk: int) -> Any:
        record = self._record(pk, "consent.record_printed")
        return render_template("consent/record_print.html", **self._context(record))

    def _record(self, pk: int, action: str) -> ConsentRecord:
        record = db_session().get(ConsentRecord, pk)
        if record is None:
            abort(404)
        audit(
            action, target=f"consent:{pk}", details={"client_id": record.client_id}, source=SOURCE
        )
        db_session().commit()
        return record

    def _context(self, record: ConsentRecord) -> dict[str, Any]:
        form = form_version(record.form_version)
        return {
            "record": record,
            "form": form,
            "form_verified": form is not None and text_hash(form.body) == record.form_hash,
            "recorded_at": local(record.recorded_at),
            "valid_until": local(record.valid_until),
            "valid_now": record.is_valid(),
            "practice_name": setting("PRACTICE_NAME"),
            "clinician_name": person(record.clinician),
        }


def _is_id(text: str) -> bool:
    """ASCII digits of a number an INTEGER column holds ("²" is a digit to isdigit())."""
    return text.isascii() and text.isdigit() and int(text) <= MAX_ID


def _page_number(text: str) -> int:
    """The page asked for; anything that is no page number (or absurdly far) is page 1."""
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return 1
    return max(1, int(text))


# --- practice admin: the form's versions and the message templates ------------------------------


class ConsentFormView(ModelView):
    """The consent form's versions: a new version is added, none is ever changed."""

    route_base = "/consent/forms"
    datamodel = SQLAInterface(ConsentFormVersion)
    class_permission_name = "ConsentForm"
    base_permissions = ["can_list", "can_show", "can_add"]
    base_order = ("version", "desc")
    list_title = "Consent form versions"
    show_title = "Consent form"
    add_title = "New version of the consent form"
    list_columns = ["version", "title", "created_at", "created_by"]
    show_columns = ["version", "title", "body", "body_hash", "created_at", "created_by"]
    add_columns = ["title", "body"]
    search_columns = ["version", "title", "created_by"]
    label_columns = {
        "version": "Version",
        "title": "Title",
        "body": "Text",
        "body_hash": "SHA-256 of the text",
        "created_at": "Created (UTC)",
        "created_by": "By",
    }
    description_columns = {
        "body": "Clients who consented to an earlier version keep that consent until it "
        "expires; new consents use the newest version."
    }

    def pre_add(self, item: ConsentFormVersion) -> None:
        item.version = next_form_version()
        item.body_hash = text_hash(item.body or "")
        item.created_by = current_user.username
        item.created_at = utcnow()
        # Before Flask-AppBuilder's commit, so that the version and its audit row commit
        # together (post_add runs after it).
        audit(
            "consent.form_version_added",
            target=f"consent_form:{item.version}",
            details={"title": item.title, "hash": item.body_hash},
            source=SOURCE,
        )


class PlaceholderCheck:
    """A WTForms validator: only known placeholders, balanced braces, {link} when needed."""

    def __init__(self, require_link: bool) -> None:
        self.require_link = require_link

    def __call__(self, form: Any, field: Any) -> None:
        channel = ""
        pk = getattr(form, "_id", None)  # FAB sets it on the edit form before validating
        item = db_session().get(MessageTemplate, pk) if pk is not None else None
        if item is not None:
            channel = item.channel
        problems = template_problems(field.data, require_link=self.require_link, channel=channel)
        if problems:
            raise FormValidationError(" ".join(problems))


PLACEHOLDER_HELP = "Placeholders: " + ", ".join(
    "{" + name + "} (" + what + ")" for name, what in PLACEHOLDERS.items()
)


class MessageTemplateView(ModelView):
    """The texts sent to clients; the practice admin edits them."""

    route_base = "/consent/templates"
    datamodel = SQLAInterface(MessageTemplate)
    class_permission_name = "ConsentMessageTemplate"
    base_permissions = ["can_list", "can_show", "can_edit"]
    list_title = "Message templates"
    edit_title = "Edit message template"
    list_columns = ["purpose_label", "channel_label", "subject", "updated_at", "updated_by"]
    show_columns = ["purpose_label", "channel_label", "subject", "body", "updated_at", "updated_by"]
    edit_columns = ["subject", "body"]
    search_columns = ["purpose", "channel", "subject", "body"]
    label_columns = {
        "purpose_label": "Message",
        "channel_label": "Channel",
        "subject": "Subject (email only)",
        "body": "Text",
        "updated_at": "Changed (UTC)",
        "updated_by": "By",
    }
    description_columns = {"body": PLACEHOLDER_HELP, "subject": PLACEHOLDER_HELP}
    validators_columns = {
        "body": [PlaceholderCheck(require_link=True)],
        "subject": [PlaceholderCheck(require_link=False)],
    }

    def pre_update(self, item: MessageTemplate) -> None:
        item.updated_at = utcnow()
        item.updated_by = current_user.username
        # Before Flask-AppBuilder's commit, as in ConsentFormView.pre_add.
        audit(
            "consent.template_updated",
            target=f"consent_template:{item.id}",
            details={"purpose": item.purpose, "channel": item.channel},
            source=SOURCE,
        )


# --- the patient portal ---------------------------------------------------------------------

portal_pages = Blueprint("consent_portal", __name__)
PUBLIC_REASON = (
    "a client reads and answers a consent form; the link's unguessable, expiring token "
    "(a core portal invite) is the key"
)


def _portal_request(token: str) -> ConsentRequest | None:
    """The unanswered request of a portal link; the link's last use is kept by the
    caller's commit."""
    invite = resolve_invite(token, commit=False)
    if invite is None or invite.kind != "portal" or invite.source != SOURCE:
        return None
    session = db_session()
    consent_request = session.scalar(
        select(ConsentRequest).where(ConsentRequest.invite_id == invite.id)
    )
    if consent_request is None:
        return None
    answered = session.scalar(
        select(ConsentRecord.id).where(ConsentRecord.request_id == consent_request.id)
    )
    return None if answered is not None else consent_request


def _portal_missing() -> Any:
    return render_template("consent/portal_missing.html", practice_name=_practice()), 404


def _practice() -> str:
    return str(setting("PRACTICE_NAME"))


def _portal_page(
    consent_request: ConsentRequest, errors: dict[str, str], status: int = 200, **layout: Any
) -> Any:
    form = form_version(consent_request.form_version) or current_form()
    return render_template(
        "consent/portal_form.html",
        consent_request=consent_request,
        client=consent_request.client,
        form=form,
        errors=errors,
        typed=request.form,
        practice_name=_practice(),
        clinician_name=person(consent_request.clinician),
        **layout,
    ), status


@portal_pages.route("/portal/consent/<token>", methods=["GET"])
@public_route(PUBLIC_REASON)
def form(token: str) -> Any:
    consent_request = _portal_request(token)
    if consent_request is None:
        db_session().commit()  # the link's last use
        return _portal_missing()
    audit(
        "consent.portal_opened",
        target=f"consent_request:{consent_request.id}",
        details={"client_id": consent_request.client_id},
        source=SOURCE,
    )
    db_session().commit()
    return _portal_page(consent_request, {})


def _portal_refusal(consent_request: ConsentRequest, errors: dict[str, str], **layout: Any) -> Any:
    db_session().commit()  # the link's last use
    return _portal_page(consent_request, errors, 400, **layout)


def check_signature(kind: str, value: str) -> str:
    """A drawn signature (a PNG data URL) or a typed name, or ``ValueError`` saying why."""
    if kind == "drawn":
        if not value.startswith(PNG_PREFIX):
            raise ValueError("Sign in the box with your finger or mouse, or type your name.")
        limit = int(current_app.config["CONSENT_SIGNATURE_MAX_BYTES"])
        if len(value) > limit * 4 // 3 + len(PNG_PREFIX) + 4:
            raise ValueError("The signature image is too large.")
        try:
            image = base64.b64decode(value[len(PNG_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("The signature image is damaged: please sign again.") from None
        if not image.startswith(PNG_MAGIC) or image[12:16] != b"IHDR" or PNG_END not in image[-12:]:
            raise ValueError("The signature image is damaged: please sign again.")
        return value
    if kind == "typed":
        name = " ".join(value.split())
        if not 2 <= len(name) <= 100 or not any(ch.isalpha() for ch in name):
            raise ValueError("Type your full name to sign.")
        return name
    raise ValueError("Sign by drawing or by typing your name.")


@portal_pages.route("/portal/consent/<token>", methods=["POST"])
@public_route(PUBLIC_REASON)
def answer(token: str) -> Any:
    consent_request = _portal_request(token)
    if consent_request is None:
        db_session().commit()  # the link's last use
        return _portal_missing()
    return _answer(consent_request)


def _answer(consent_request: ConsentRequest, **layout: Any) -> Any:
    """Record the client's decision on a form (from its link or from the portal)."""
    decision = request.form.get("decision", "")
    if decision not in ("accept", "decline"):
        return _portal_refusal(
            consent_request, {"decision": "Accept or decline the form."}, **layout
        )
    signature_kind = signature = None
    if decision == "accept":
        signature_kind = request.form.get("signature_kind", "")
        raw = request.form.get("signature" if signature_kind == "drawn" else "typed_name", "")
        try:
            signature = check_signature(signature_kind, raw)
        except ValueError as exc:
            return _portal_refusal(consent_request, {"signature": str(exc)}, **layout)
    form = form_version(consent_request.form_version) or current_form()
    record = new_record(
        client_id=consent_request.client_id,
        kind="digital",
        decision="accepted" if decision == "accept" else "declined",
        form_version=form.version,
        form_hash=form.body_hash,
        signature_kind=signature_kind,
        signature=signature,
        clinician_id=consent_request.clinician_id,
        request_id=consent_request.id,
        reference=consent_request.reference,
        ip=(request.remote_addr or "")[:64] or None,
        user_agent=(request.user_agent.string or "")[:300] or None,
    )
    db_session().add(record)
    db_session().flush()
    audit(
        "consent.accepted" if decision == "accept" else "consent.declined",
        target=f"consent:{record.id}",
        details={
            "client_id": record.client_id,
            "by": f"client:{record.client_id}",
            "request_id": consent_request.id,
            "form_version": form.version,
            "signature": signature_kind,
            "reference": record.reference,
        },
        source=SOURCE,
    )
    revoke_invite(consent_request.invite_id, source=SOURCE, commit=False)
    db_session().commit()
    announce_decision(consent_request, record)
    return render_template(
        "consent/portal_done.html",
        accepted=record.decision == "accepted",
        client=consent_request.client,
        practice_name=_practice(),
        **layout,
    )


# --- the consent section of the patient portal (the client is signed in) -----------------------

SECTION_REASON = (
    "the patient portal's consent section; the client's portal sign-in is the key and only "
    "their own forms are shown"
)
SECTION_LAYOUT = {"portal_layout": "portal/section.html", "portal_section": "consent"}


def _open_requests(client_id: int) -> list[ConsentRequest]:
    """The client's forms still waiting for an answer, newest first."""
    answered = select(ConsentRecord.request_id).where(ConsentRecord.request_id.is_not(None))
    return list(
        db_session().scalars(
            select(ConsentRequest)
            .join(PatientInvite, PatientInvite.id == ConsentRequest.invite_id)
            .where(
                ConsentRequest.client_id == client_id,
                ConsentRequest.id.not_in(answered),
                PatientInvite.revoked_at.is_(None),
                PatientInvite.expires_at > utcnow(),
            )
            .order_by(ConsentRequest.created_at.desc(), ConsentRequest.id.desc())
        )
    )


@portal_pages.route("/portal/forms", methods=["GET"])
@public_route(SECTION_REASON)
@portal_required
def section() -> Any:
    client = portal_client()
    assert client is not None  # portal_required
    records = list(
        db_session().scalars(
            select(ConsentRecord)
            .where(ConsentRecord.client_id == client.id)
            .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
            .limit(20)
        )
    )
    return render_template(
        "consent/portal_section.html",
        pending=_open_requests(client.id),
        records=records,
        local=local,
        client=client,
        practice_name=_practice(),
        **SECTION_LAYOUT,
    )


@portal_pages.route("/portal/forms/<int:pk>", methods=["GET", "POST"])
@public_route(SECTION_REASON)
@portal_required
def section_form(pk: int) -> Any:
    client = portal_client()
    assert client is not None  # portal_required
    consent_request = next((r for r in _open_requests(client.id) if r.id == pk), None)
    if consent_request is None:  # another client's, answered, expired or unknown: all alike
        return render_template(
            "consent/portal_missing.html", practice_name=_practice(), **SECTION_LAYOUT
        ), 404
    if request.method == "POST":
        return _answer(consent_request, **SECTION_LAYOUT)
    audit(
        "consent.portal_opened",
        target=f"consent_request:{consent_request.id}",
        details={"client_id": client.id, "via": "portal"},
        source=SOURCE,
        actor=f"client:{client.id}",
    )
    db_session().commit()
    return _portal_page(consent_request, {}, **SECTION_LAYOUT)


def portal_activity(client_id: int) -> list[PortalActivity]:
    """The client's own answers (digital consents) for the staff's portal activity page."""
    records = db_session().scalars(
        select(ConsentRecord)
        .where(ConsentRecord.client_id == client_id, ConsentRecord.kind == "digital")
        .order_by(ConsentRecord.recorded_at.desc())
        .limit(25)
    )
    return [
        PortalActivity(
            r.recorded_at,
            "consent",
            f"{r.decision} the consent form (version {r.form_version})"
            + (f", signed ({r.signature_kind})" if r.signature_kind else ""),
        )
        for r in records
    ]
