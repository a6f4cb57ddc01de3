"""Intake questionnaires: opened when a patient arrives, answered with the front desk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.api import (
    DashboardWidget,
    DomainEvent,
    EventSpec,
    GroupRule,
    HelpArticle,
    MenuView,
    PluginInfo,
    ReportColumn,
    Setting,
    SocketEvent,
    hookimpl,
)

NAME = "intake"
SECTION = "Intake"
QUESTIONS = "INTAKE_QUESTIONS"
ON_ARRIVAL = "INTAKE_ON_ARRIVAL"
ANSWER_RULE = "Intake: answer questionnaires"
HELP_ARTICLE = Path(__file__).parent / "help" / "intake.md"
DEFAULT_QUESTIONS = (
    "How have you been feeling since your last visit?\n"
    "Have your medications changed?\n"
    "Is there anything you want your clinician to know today?"
)


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Intake",
        version="0.1.0",
        description="Intake questionnaires, opened when a patient arrives.",
        menu_section=SECTION,
        menu_icon="fa-clipboard",
        menu_order=150,
        requires=("waiting_room",),
        api_version=1,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, Any]:
    return {QUESTIONS: DEFAULT_QUESTIONS, ON_ARRIVAL: True}


@hookimpl
def backoffice_settings() -> list[Setting]:
    return [
        Setting(
            QUESTIONS,
            "Intake questions",
            type="text",
            help="One question per line, asked in this order.",
            section=SECTION,
        ),
        Setting(
            ON_ARRIVAL,
            "Open a questionnaire when a patient arrives",
            type="bool",
            section=SECTION,
        ),
    ]


@hookimpl
def backoffice_load_models() -> None:
    from intake import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from intake.views import IntakeAnswerView, IntakeFormView

    return [
        MenuView(IntakeFormView, "Questionnaires", icon="fa-list"),
        MenuView(IntakeAnswerView),  # the answer page, reached from the list
    ]


@hookimpl
def backoffice_dashboard_widgets() -> list[DashboardWidget]:
    return [DashboardWidget("Intake", "intake/widget.html", order=60)]


@hookimpl
def backoffice_socket_events() -> list[SocketEvent]:
    from intake.events import EVENTS

    return EVENTS


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    from intake.schemas import IntakeCompletedEventSchema, IntakeRequestedEventSchema

    return [
        EventSpec(
            "intake.requested",
            "A patient arrived and an intake questionnaire was opened for the visit.",
            IntakeRequestedEventSchema,
        ),
        EventSpec(
            "intake.completed",
            "Staff recorded the patient's answers to the intake questionnaire.",
            IntakeCompletedEventSchema,
        ),
    ]


@hookimpl
def backoffice_domain_event(event: DomainEvent) -> None:
    if event.name == "patient.arrived":
        from intake.service import open_for_arrival

        open_for_arrival(event.payload)


@hookimpl
def backoffice_group_rules() -> list[GroupRule]:
    return [
        GroupRule(
            ANSWER_RULE,
            "May record a patient's intake answers",
            default_roles=("Staff", "Clinician", "Practice Admin"),
        )
    ]


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    menu = [("menu_access", SECTION), ("menu_access", "Questionnaires")]
    grants = [
        ("can_list", "IntakeForm"),
        ("can_show", "IntakeForm"),
        ("can_answer", "IntakeAnswer"),
        *menu,
    ]
    return {role: list(grants) for role in ("Staff", "Clinician", "Practice Admin")}


@hookimpl
def backoffice_startup(app: Any) -> None:
    from intake.models import open_count

    app.add_template_global(open_count, "intake_open_count")


@hookimpl
def backoffice_help_articles() -> list[HelpArticle]:
    """help/intake.md (package data): in the Help Center and behind the "?" of its pages."""
    return HelpArticle.from_folder(HELP_ARTICLE.parent)


@hookimpl
def backoffice_report_columns() -> list[ReportColumn]:
    """Reporting's visit tables get an "Intake answered" column (one query per page)."""
    from intake.service import answered_column

    return [ReportColumn("intake_answered", "Intake answered", answered_column)]
