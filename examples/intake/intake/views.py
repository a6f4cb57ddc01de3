"""Intake's pages: the list of questionnaires and the page that records the answers."""

from __future__ import annotations

from typing import Any

from core.api import db_session, group_rule_enabled
from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_login import current_user
from marshmallow import ValidationError

from intake.models import IntakeForm
from intake.schemas import AnswersSchema
from intake.service import IntakeError, complete, questions


class IntakeFormView(ModelView):
    route_base = "/intake/forms"
    datamodel = SQLAInterface(IntakeForm)
    class_permission_name = "IntakeForm"
    base_permissions = ["can_list", "can_show"]
    base_order = ("id", "desc")
    list_title = "Intake questionnaires"
    list_columns = ["created_at", "entry_id", "status", "answer"]
    show_columns = ["created_at", "entry_id", "client_id", "status", "answers", "completed_at"]
    label_columns = {
        "entry_id": "Visit",
        "created_at": "Opened",
        "client_id": "Client",
        "answer": "",
    }
    list_template = "intake/list.html"


class IntakeAnswerView(BaseView):
    """A plain page on the base template; ``@has_access`` checks ``can_answer`` on
    ``IntakeAnswer`` for both methods (``method_permission_name``)."""

    route_base = "/intake/answer"
    class_permission_name = "IntakeAnswer"
    method_permission_name = {"form": "answer", "save": "answer"}
    base_permissions = ["can_answer"]

    @expose("/<int:pk>")
    @has_access
    def form(self, pk: int) -> Any:
        intake = db_session().get(IntakeForm, pk)
        if intake is None:
            abort(404)
        return self.render_template("intake/answer.html", intake=intake, questions=questions())

    @expose("/<int:pk>", methods=["POST"])
    @has_access
    def save(self, pk: int) -> Any:
        from intake import ANSWER_RULE

        if not group_rule_enabled(ANSWER_RULE):
            abort(403)
        try:
            loaded = AnswersSchema().load({"answers": request.form.getlist("answer")})
            complete(pk, loaded["answers"], current_user.id)
        except ValidationError as exc:
            flash(f"The answers could not be saved: {exc.messages}", "danger")
            return redirect(url_for("IntakeAnswerView.form", pk=pk)), 400
        except IntakeError as exc:
            flash(str(exc), "danger")
            return redirect(url_for("IntakeAnswerView.form", pk=pk)), 409
        flash("Intake answers saved.", "success")
        return redirect(url_for("IntakeFormView.list"))
