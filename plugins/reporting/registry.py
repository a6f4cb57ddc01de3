"""The reports and visit columns every enabled plugin contributes (this one's included)."""

from __future__ import annotations

import logging

from core.api import ReportColumn, ReportSpec, hook_results

log = logging.getLogger(__name__)


def reports() -> list[ReportSpec]:
    found: dict[str, ReportSpec] = {}
    for plugin, specs in hook_results("backoffice_reports"):
        for spec in specs:
            if not isinstance(spec, ReportSpec) or spec.name in found:
                log.warning("reporting: plugin %s offered a bad or repeated report", plugin)
                continue
            found[spec.name] = spec
    return sorted(found.values(), key=lambda s: (s.order, s.title))


def report(name: str) -> ReportSpec | None:
    return next((s for s in reports() if s.name == name), None)


def columns() -> list[ReportColumn]:
    found: list[ReportColumn] = []
    for _plugin, added in hook_results("backoffice_report_columns"):
        found.extend(c for c in added if isinstance(c, ReportColumn))
    return found
