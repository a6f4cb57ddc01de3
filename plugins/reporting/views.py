"""Reporting's pages: the list of reports, each report (figure, table, CSV) and the visits
behind any figure. Clinicians see their own rows; ``can_view_all`` shows everyone's."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Response, abort, request
from flask_appbuilder import BaseView, expose, has_access
from flask_login import current_user

from core.api import (
    ReportColumn,
    ReportFilters,
    ReportSpec,
    audit,
    db_session,
    practice_timezone,
    staff_members,
)
from plugins.reporting import registry
from plugins.reporting.models import INVITE_LABELS
from plugins.reporting.visits import (
    COLUMNS,
    CSV_LIMIT,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    SORTABLE,
    BadFilter,
    count,
    display_rows,
    drill_query,
    fetch,
    ordered,
    parse_filters,
    sort_of,
)

PERMISSION_VIEW = "Reports"
SEE_ALL = "can_view_all"
FILTER_KEYS = ("date_from", "date_to", "provider_id", "invite_kind")
DRILL_KEYS = (
    "outcome",
    "date",
    "hour",
    "weekday",
    "copay_status",
    "copay_method",
    "admitted",
    "session",
)
SOURCE = "reporting"
CSV_CHUNK = 64 * 1024


def _error(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def _csv(name: str, header: list[str], lines: Iterator[list[Any]]) -> Response:
    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for line in lines:
            writer.writerow(line)
            if buffer.tell() >= CSV_CHUNK:  # a write per row costs more than the row
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(generate(), mimetype="text/csv", headers=headers)


def _sorted_rows(
    rows: list[dict[str, Any]], spec: ReportSpec, args: Mapping[str, str]
) -> list[dict[str, Any]]:
    sort = args.get("sort")
    direction = args.get("dir") or "asc"
    if direction not in ("asc", "desc"):
        raise BadFilter("dir must be asc or desc")
    if not sort:
        return rows
    keys = [key for key, _label in spec.columns]
    if sort not in keys:
        raise BadFilter(f"sort must be one of {', '.join(keys)}")
    return sorted(rows, key=lambda r: (r[sort] is None, r[sort]), reverse=direction == "desc")


def _page_of(args: Mapping[str, str], total: int, size: int) -> tuple[int, int]:
    raw = args.get("page") or "1"
    pages = max(1, math.ceil(total / size))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= pages:
        raise BadFilter(f"page must be from 1 to {pages}")
    return int(raw), pages


def _size(args: Mapping[str, str]) -> int:
    raw = args.get("size") or str(PAGE_SIZE)
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise BadFilter(f"size must be from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


class ReportsView(BaseView):
    route_base = "/reporting"
    default_view = "index"
    class_permission_name = PERMISSION_VIEW
    method_permission_name = {
        "index": "show",
        "report": "show",
        "report_csv": "show",
        "visits": "show",
        "visits_csv": "show",
    }
    base_permissions = ["can_show", SEE_ALL]

    # --- who sees what --------------------------------------------------------------------

    def _own_id(self) -> int | None:
        """``None`` for a viewer who sees every provider's rows, else their own id."""
        if self.appbuilder.sm.has_access(SEE_ALL, PERMISSION_VIEW):
            return None
        return int(current_user.id)

    def _asked(self) -> ReportFilters:
        return parse_filters(request.args, practice_timezone(), own_id=self._own_id())

    def _guarded(self, page: Callable[[], Any]) -> Any:
        try:
            return page()
        except BadFilter as exc:
            return _error(str(exc), 400)
        except PermissionError as exc:
            return _error(str(exc), 403)

    def _context(self, filters: ReportFilters) -> dict[str, Any]:
        own = self._own_id()
        return {
            "filters": filters,
            "own_only": own is not None,
            "providers": [m for m in staff_members() if own is None or m.id == own],
            "invite_kinds": INVITE_LABELS,
            "filter_args": {k: request.args[k] for k in FILTER_KEYS if request.args.get(k)},
        }

    # --- pages ----------------------------------------------------------------------------

    @expose("/")
    @has_access
    def index(self) -> Any:
        return self._guarded(
            lambda: self.render_template(
                "reporting/index.html", reports=registry.reports(), **self._context(self._asked())
            )
        )

    def _spec(self, name: str) -> ReportSpec:
        spec = registry.report(name)
        if spec is None:
            abort(404)
        return spec

    @expose("/report/<name>")
    @has_access
    def report(self, name: str) -> Any:
        spec = self._spec(name)
        return self._guarded(lambda: self._report_page(spec))

    def _report_page(self, spec: ReportSpec) -> Any:
        filters = self._asked()
        rows = _sorted_rows(spec.rows(filters), spec, request.args)
        page, pages = _page_of(request.args, len(rows), PAGE_SIZE)
        shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        base = {k: v for k, v in request.args.items() if k in FILTER_KEYS and v}
        drills = [self._drill_url(spec, row, base) for row in rows]
        chart = {
            "type": spec.chart,
            "labels": [str(r[spec.label]) for r in rows],
            "values": [r[spec.value] for r in rows],
            "label": dict(spec.columns).get(spec.value, spec.value),
            "drills": drills,
        }
        return self.render_template(
            "reporting/report.html",
            spec=spec,
            rows=shown,
            drills=drills[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
            chart_json=json.dumps(chart),
            page=page,
            pages=pages,
            sort=request.args.get("sort", ""),
            direction=request.args.get("dir", "asc"),
            query=lambda **changes: urlencode({**request.args, **changes}),
            **self._context(filters),
        )

    def _drill_url(self, spec: ReportSpec, row: dict[str, Any], base: dict[str, str]) -> str | None:
        drill = spec.drill(row) if spec.drill is not None else None
        if drill is None:
            return None
        return "/reporting/visits?" + urlencode({**base, **drill, "report": spec.name})

    @expose("/report/<name>/csv")
    @has_access
    def report_csv(self, name: str) -> Any:
        spec = self._spec(name)

        def export() -> Response:
            filters = self._asked()
            rows = _sorted_rows(spec.rows(filters), spec, request.args)
            keys = [key for key, _label in spec.columns]
            audit(
                "reporting.exported",
                target=f"report:{spec.name}",
                details=dict(request.args),
                source=SOURCE,
            )
            db_session().commit()
            return _csv(
                spec.name,
                [label for _k, label in spec.columns],
                ([r[k] for k in keys] for r in rows),
            )

        return self._guarded(export)

    @expose("/visits")
    @has_access
    def visits(self) -> Any:
        return self._guarded(self._visits_page)

    def _visits_page(self) -> Any:
        filters = self._asked()
        query = drill_query(filters, request.args)
        sort, direction = sort_of(request.args)
        size = _size(request.args)
        total = count(query)
        page, pages = _page_of(request.args, total, size)
        extra = registry.columns()
        zone = practice_timezone()
        rows = display_rows(
            fetch(ordered(query, sort, direction), offset=(page - 1) * size, limit=size),
            zone,
            extra,
        )
        columns = list(COLUMNS) + [(c.name, c.label) for c in extra]
        audit("reporting.visits_viewed", details={"count": len(rows)}, source=SOURCE)
        db_session().commit()
        report = registry.report(request.args.get("report") or "")
        return self.render_template(
            "reporting/visits.html",
            rows=rows,
            columns=columns,
            sortable=SORTABLE,
            sort=sort,
            direction=direction,
            total=total,
            page=page,
            pages=pages,
            report=report,
            drill={k: request.args[k] for k in DRILL_KEYS if request.args.get(k)},
            query=lambda **changes: urlencode({**request.args, **changes}),
            **self._context(filters),
        )

    @expose("/visits/csv")
    @has_access
    def visits_csv(self) -> Any:
        def export() -> Response:
            filters = self._asked()
            query = drill_query(filters, request.args)
            sort, direction = sort_of(request.args)
            extra: list[ReportColumn] = registry.columns()
            zone = practice_timezone()
            columns = list(COLUMNS) + [(c.name, c.label) for c in extra]
            visits = fetch(ordered(query, sort, direction), offset=0, limit=CSV_LIMIT)
            rows = display_rows(visits, zone, extra)  # before the commit expires the visits
            audit("reporting.exported", target="visits", details=dict(request.args), source=SOURCE)
            db_session().commit()
            return _csv(
                "visits",
                [label for _k, label in columns],
                ([r[k] for k, _l in columns] for r in rows),
            )

        return self._guarded(export)
