"""The printed table: the product beside the bare python-socketio reference."""

from __future__ import annotations

from typing import Any

WIDTH = 36


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, dict):
        return " / ".join(f"{key} {cell(item)}" for key, item in value.items())
    return str(value)


def row(label: str, product: Any, bare: Any = "", times: Any = "") -> str:
    ratio = f"{cell(times)}x" if times != "" else ""
    return f"  {label:<{WIDTH}}{cell(product):>12}{cell(bare):>12}{ratio:>10}"


def arrival_rows(name: str, figures: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {figures['patients']} patients at {figures['rate']:g}/s, "
        f"{figures['dashboards']} dashboards, {figures['async_mode']}/{figures['database']}",
        row("delivered / expected", f"{figures['delivered']}/{figures['expected']}"),
        row("errors", figures["errors"]),
        row("arrival p50 ms", figures["arrival_p50_ms"]),
        row("arrival p95 ms", figures["arrival_p95_ms"]),
        row(
            "arrival p99 ms",
            figures["arrival_p99_ms"],
            figures["baseline_p99_ms"],
            figures["ratio_p99"],
        ),
        row(
            "CPU ms per arrival",
            figures["cpu_ms_per_arrival"],
            figures["baseline_cpu_ms_per_arrival"],
        ),
    ]


def modes_rows(figures: dict[str, Any]) -> list[str]:
    lines = ["modes: arrival p99 ms"]
    for mode, run in figures.items():
        label = f"{mode} ({run['delivered']}/{run['expected']}, {run['errors']} errors)"
        lines.append(row(label, run["arrival_p99_ms"], run["baseline_p99_ms"], run["ratio_p99"]))
    return lines


def http_rows(figures: dict[str, Any]) -> list[str]:
    bare = figures["bare_p50_ms"]
    return [
        "http: p50 ms of sequential keep-alive GETs",
        row("GET /waiting-room/ (staff)", figures["waiting_room_page_p50_ms"], bare),
        row("GET /wait/<code> (anonymous)", figures["join_page_p50_ms"], bare),
    ]


def reports_rows(figures: dict[str, Any]) -> list[str]:
    lines = ["reports: p50 ms of each report over a year of visits (bar: 300 ms)"]
    for backend, numbers in figures.items():
        if not isinstance(numbers, dict) or "visits" not in numbers:
            lines.append(f"  {backend}: {numbers}")
            continue
        lines.append(f"  {backend}: {numbers['visits']} visits (seeded in {numbers['seed_s']} s)")
        lines += [
            row(key.removesuffix("_p50_ms"), value)
            for key, value in numbers.items()
            if key.endswith("_p50_ms")
        ]
        lines.append(row("slowest report (ms)", numbers["slowest_report_ms"]))
    return lines


def section_rows(name: str, figures: Any) -> list[str]:
    if isinstance(figures, str):  # skipped or failed
        return [f"{name}: {figures}"]
    if not isinstance(figures, dict):
        return [f"{name}: {cell(figures)}"]
    if name.startswith("waiting_room"):
        return arrival_rows(name, figures)
    if name == "modes":
        return modes_rows(figures)
    if name == "http":
        return http_rows(figures)
    if name == "reports":
        return reports_rows(figures)
    return [f"{name}:", *(row(key, value) for key, value in figures.items())]


def table(results: dict[str, Any], keys: list[str]) -> str:
    lines = [
        f"server root {results['server_root']} at {results['git_commit']}",
        f"  {'':<{WIDTH}}{'product':>12}{'bare':>12}{'ratio':>10}",
    ]
    for key in keys:
        if key in results:
            lines += section_rows(key, results[key])
    return "\n".join(lines)
