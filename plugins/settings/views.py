"""Pages of Settings: Patient QuickVite, Waitroom External Join Codes, Practice Settings and
the navigation's order."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from marshmallow import ValidationError

from core.api import (
    ApiResponse,
    ErrorSchema,
    InvalidRecipient,
    JoinCodeMatch,
    db_session,
    json_route,
    setting,
    staff_members,
)
from plugins.settings import service
from plugins.settings.schemas import (
    FieldErrorsSchema,
    QuickViteSchema,
    RecentInvitesSchema,
    RevokedSchema,
    RotateSchema,
    SentSchema,
)

SOURCE = service.SOURCE


def _sent_json(sent: service.Sent) -> dict[str, Any]:
    return {
        "id": sent.quickvite.id,
        "invite_id": sent.quickvite.invite_id,
        "url": sent.url,
        "qr_svg": sent.qr_svg,
        "expires_at": sent.expires_at.isoformat(timespec="seconds") + "Z",
        "deliveries": [
            {
                "channel": d.channel,
                "recipient": d.recipient,
                "status": d.status,
                "problem": d.problem,
            }
            for d in sent.deliveries
        ],
    }


class QuickViteView(BaseView):
    """Send a patient a waiting-room link by text and/or email; the recent ones and their
    state (sent, opened, arrived, expired), with resend and revoke."""

    route_base = "/settings/quickvite"
    default_view = "show"
    class_permission_name = "QuickVite"
    method_permission_name = {
        "show": "show",
        "recent": "show",
        "send": "send",
        "resend": "send",
        "revoke": "send",
    }
    base_permissions = ["can_show", "can_send"]

    @expose("/")
    @has_access
    def show(self) -> Any:
        return self.render_template(
            "settings/quickvite.html",
            providers=service.providers(),
            default_provider=service.default_provider(),
            recent=service.recent(),
        )

    @expose("/recent")
    @json_route("The latest QuickVites and their state", responses={200: RecentInvitesSchema})
    @has_access
    def recent(self) -> Any:
        return jsonify(invites=service.recent())

    @expose("/send", methods=["POST"])
    @json_route(
        "Send a patient a QuickVite by text and/or email",
        body=QuickViteSchema,
        form=QuickViteSchema,
        responses={201: SentSchema, 400: FieldErrorsSchema, 429: ErrorSchema},
    )
    @has_access
    def send(self) -> Any:
        try:
            data = QuickViteSchema().load(request.get_json(silent=True) or request.form.to_dict())
        except ValidationError as exc:
            fields = {k: " ".join(map(str, v)) for k, v in exc.messages.items()}  # type: ignore[union-attr]
            return jsonify(error="Please check the form.", fields=fields), 400
        try:
            checked = service.check(data)
            sent = service.send(checked)
        except service.QuickViteError as exc:
            return jsonify(error="Please check the form.", fields=exc.fields), 400
        except InvalidRecipient as exc:
            db_session().rollback()
            return jsonify(error=str(exc), fields={}), 400
        except service.TooManyQuickVites as exc:
            return jsonify(error=str(exc)), 429
        return jsonify(_sent_json(sent)), 201

    @expose("/<int:pk>/resend", methods=["POST"])
    @json_route(
        "Send a QuickVite again (a new link; the old one stops working)",
        responses={201: SentSchema, 404: ErrorSchema, 409: FieldErrorsSchema, 429: ErrorSchema},
    )
    @has_access
    def resend(self, pk: int) -> Any:
        try:
            sent = service.resend(pk)
        except LookupError as exc:
            return jsonify(error=str(exc)), 404
        except service.QuickViteError as exc:
            return jsonify(error=str(exc), fields=exc.fields), 409
        except service.TooManyQuickVites as exc:
            db_session().rollback()
            return jsonify(error=str(exc)), 429
        return jsonify(_sent_json(sent)), 201

    @expose("/<int:pk>/revoke", methods=["POST"])
    @json_route("Stop a QuickVite's link", responses={200: RevokedSchema, 404: ErrorSchema})
    @has_access
    def revoke(self, pk: int) -> Any:
        try:
            service.revoke(pk)
        except LookupError as exc:
            return jsonify(error=str(exc)), 404
        return jsonify(ok=True)


class JoinCodesView(BaseView):
    """The practice's permanent waiting-room link and one per provider: the link, an HTML
    snippet for the practice website with a preview, QR codes, and rotation."""

    route_base = "/settings/join-codes"
    default_view = "show"
    class_permission_name = "JoinCodes"
    method_permission_name = {"show": "show", "qr": "show", "rotate": "rotate"}
    base_permissions = ["can_show", "can_rotate"]

    @expose("/")
    @has_access
    def show(self) -> Any:
        from core.api import all_join_codes as all_codes

        links = self._links()
        db_session().commit()  # providers' first codes, made on this first visit
        names = {m.id: m.name or m.username for m in staff_members()}
        retired = [c for c in all_codes() if c.state != "active"]
        return self.render_template(
            "settings/join_codes.html",
            links=links,
            retired=retired,
            names=names,
            grace_hours=setting("JOIN_CODE_GRACE_HOURS"),
            can_rotate=self.appbuilder.sm.has_access("can_rotate", "JoinCodes"),
        )

    def _links(self) -> list[dict[str, Any]]:
        from core.api import active_join_codes as active_codes
        from core.api import practice_join_code, provider_join_code

        practice_name = str(setting("PRACTICE_NAME"))
        found: list[dict[str, Any]] = []
        practice = active_codes()[0]
        found.append(self._link(practice, f"{practice_name} (practice)", "Join the waiting room"))
        assert practice.code == practice_join_code()
        for provider in service.providers():
            code = provider_join_code(provider["id"])
            assert code is not None
            match = active_codes(provider["id"])
            row = match[0] if match else None
            if row is not None:
                found.append(self._link(row, provider["name"], f"See {provider['name']} online"))
        return found

    @staticmethod
    def _link(code: JoinCodeMatch, title: str, button: str) -> dict[str, Any]:
        url = service.join_url(code.code)
        return {
            "id": code.id,
            "title": title,
            "code": code.code,
            "url": url,
            "snippet": service.snippet(url, button),
            "qr": service.qr_svg(url),
        }

    @expose("/<int:pk>/qr.<kind>")
    @json_route(
        "A join code's QR code to download (kind: svg or png)",
        responses={
            200: ApiResponse("The QR code (image/svg+xml or image/png)", content_type=None),
            404: ErrorSchema,
        },
    )
    @has_access
    def qr(self, pk: int, kind: str) -> Any:
        from core.api import all_join_codes as all_codes

        if kind not in {"svg", "png"}:
            return jsonify(error="ask for qr.svg or qr.png"), 404
        match = next((c for c in all_codes() if c.id == pk and c.state != "retired"), None)
        if match is None:
            return jsonify(error="there is no working join code with that id"), 404
        body = service.qr_file(service.join_url(match.code), kind)
        mimetype = "image/svg+xml" if kind == "svg" else "image/png"
        name = f"waiting-room-{'practice' if match.provider_id is None else match.provider_id}"
        headers = {"Content-Disposition": f'attachment; filename="{name}.{kind}"'}
        return Response(body, mimetype=mimetype, headers=headers)

    @expose("/<int:pk>/rotate", methods=["POST"])
    @has_access
    def rotate(self, pk: int) -> Any:
        from core.api import JoinCodeError
        from core.api import rotate_join_code as rotate_code

        try:
            data = RotateSchema().load(request.form.to_dict())
            fresh = rotate_code(pk, int(float(data["grace_hours"]) * 3600), source=SOURCE)
        except ValidationError:
            flash("Nothing changed: pick a grace period between 0 hours and a year.", "danger")
            return self.show(), 400
        except JoinCodeError as exc:
            db_session().rollback()
            flash(f"Nothing changed: {exc}.", "danger")
            return self.show(), 404 if "no join code" in str(exc) else 409
        db_session().commit()
        hours = float(data["grace_hours"])
        when = "at once" if hours == 0 else f"for {hours:g} more hour(s)"
        flash(f"New link made; the old one keeps working {when}.", "success")
        return redirect(url_for("JoinCodesView.show", _anchor=f"code-{fresh.id}"), 303)


#: Read one byte past the logo's limit at most: enough to refuse a larger file.
MAX_LOGO_READ = 512 * 1024 + 1


class PracticeSettingsView(BaseView):
    """Practice settings, low-code: core's and every enabled plugin's declared settings."""

    route_base = "/settings/practice"
    default_view = "edit"
    class_permission_name = "PracticeSettings"
    method_permission_name = {"edit": "read", "save": "write", "logo": "write"}
    base_permissions = ["can_read", "can_write"]

    @expose("/")
    @has_access
    def edit(self) -> Any:
        return self._page({})

    @expose("/logo", methods=["POST"])
    @has_access
    def logo(self) -> Any:
        """Upload the practice's logo, or remove it (``remove=1``)."""
        from core.api import remove_practice_logo, store_practice_logo

        if request.form.get("remove"):
            remove_practice_logo()
            flash("The logo was removed.", "success")
            return redirect(url_for("PracticeSettingsView.edit"), 303)
        upload = request.files.get("logo")
        try:
            store_practice_logo(upload.read(MAX_LOGO_READ) if upload is not None else b"")
        except ValueError as exc:
            db_session().rollback()
            flash(f"The logo was not saved: {exc}", "danger")
            return self._page({"logo": str(exc)}, 400)
        flash("The new logo is on every page.", "success")
        return redirect(url_for("PracticeSettingsView.edit"), 303)

    def _page(self, errors: dict[str, str], status: int = 200) -> Any:
        from core.api import SECRET_SHOWN, practice_logo_url
        from core.api import settings_form_sections as form_sections

        return self.render_template(
            "settings/practice.html",
            sections=form_sections(),
            errors=errors,
            secret_shown=SECRET_SHOWN,
            logo_url=practice_logo_url(),
            can_write=self.appbuilder.sm.has_access("can_write", "PracticeSettings"),
        ), status

    @expose("/", methods=["POST"])
    @has_access
    def save(self) -> Any:
        from core.api import SettingError, save_settings

        form = {k: v for k, v in request.form.items() if k != "csrf_token"}
        try:
            changed = save_settings(form)
        except SettingError as exc:
            db_session().rollback()
            flash("Nothing was saved: " + exc.message, "danger")
            return self._page({exc.field: exc.message}, 400)
        if changed:
            flash(f"Saved: {', '.join(changed)}.", "success")
        else:
            flash("Nothing changed.", "info")
        return redirect(url_for("PracticeSettingsView.edit"), 303)


class NavigationView(BaseView):
    """The left navigation's order and labels, kept for the practice."""

    route_base = "/settings/navigation"
    default_view = "edit"
    class_permission_name = "Navigation"
    method_permission_name = {"edit": "read", "save": "write", "reset": "write"}
    base_permissions = ["can_read", "can_write"]

    @expose("/")
    @has_access
    def edit(self) -> Any:
        from core.api import navigation_sections as sections

        return self.render_template("settings/navigation.html", sections=sections())

    @expose("/", methods=["POST"])
    @has_access
    def save(self) -> Any:
        from core.api import NavigationError, save_navigation
        from core.api import navigation_sections as sections

        names = [s["name"] for s in sections()]
        positions: dict[str, float] = {}
        for index, name in enumerate(names):
            raw = request.form.get(f"position__{name}", str(index + 1))
            try:
                positions[name] = float(raw)
            except ValueError:
                flash(f"The position of {name} must be a number.", "danger")
                return self.render_template("settings/navigation.html", sections=sections()), 400
        order = sorted(names, key=lambda n: (positions[n], names.index(n)))
        labels = {n: request.form.get(f"label__{n}", "") for n in names}
        try:
            save_navigation(order, labels)
        except NavigationError as exc:
            db_session().rollback()
            flash(str(exc), "danger")
            return self.render_template("settings/navigation.html", sections=sections()), 400
        flash("The navigation was saved.", "success")
        return redirect(url_for("NavigationView.edit"), 303)

    @expose("/reset", methods=["POST"])
    @has_access
    def reset(self) -> Any:
        from core.api import reset_navigation

        reset_navigation()
        flash("The navigation is back to the standard order.", "success")
        return redirect(url_for("NavigationView.edit"), 303)
