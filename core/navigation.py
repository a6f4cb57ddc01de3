"""The left navigation: the seed's order, which a practice admin may change and rename.

The seed's menu reads Back Office (the home link), Reporting, Upload Site, Patient Portal,
Help Center, Tools, Settings, then the other plugins' sections, then the host's Admin
and Security. The admin's order and labels are kept in the database (``core.navigation``)
and applied to Flask-AppBuilder's menu whenever a worker sees them change.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from core import practice_settings

SEED_ORDER = (
    "Reporting",
    "Upload Site",
    "Patient Portal",
    "Help Center",
    "Tools",
    "Settings",
)
CORE_SECTIONS = ("Admin", "Security")
STORED_KEY = "core.navigation"
LABEL_MAX = 60


def _seed_rank(name: str, menu_orders: dict[str, int]) -> tuple[int, int, str]:
    if name in SEED_ORDER:
        return (0, SEED_ORDER.index(name), name)
    if name in CORE_SECTIONS:
        return (2, CORE_SECTIONS.index(name), name)
    return (1, menu_orders.get(name, 10_000), name)


def default_order(names: list[str], menu_orders: dict[str, int]) -> list[str]:
    return sorted(names, key=lambda n: _seed_rank(n, menu_orders))


def stored_choice() -> dict[str, Any]:
    found = practice_settings.stored(STORED_KEY)
    return found if isinstance(found, dict) else {}


def arrange(appbuilder: Any, menu_orders: dict[str, int], choice: dict[str, Any]) -> None:
    """Sort the menu by the admin's order (sections it does not name keep the seed's
    place after them) and apply the admin's labels."""
    items = appbuilder.menu.menu
    names = [item.name for item in items]
    seeded = default_order(names, menu_orders)
    chosen = [n for n in choice.get("order", []) if n in names]
    rank = {name: i for i, name in enumerate(chosen)}
    seed_rank = {name: i for i, name in enumerate(seeded)}
    if chosen:
        # Unnamed sections go after the last named one that precedes them in the seed.
        def key(name: str) -> tuple[float, int]:
            if name in rank:
                return (rank[name], 0)
            before = [rank[n] for n in seeded[: seed_rank[name]] if n in rank]
            return ((max(before) if before else -1) + 0.5, seed_rank[name])

        order = {name: key(name) for name in names}
    else:
        order = {name: (seed_rank[name], 0) for name in names}
    items.sort(key=lambda item: order[item.name])
    labels = choice.get("labels", {})
    for item in items:
        original = getattr(item, "_backoffice_label", None)
        if original is None:
            original = item.label
            item._backoffice_label = original
        item.label = str(labels.get(item.name) or original)


def refresh_menu() -> None:
    """Apply the stored order if this worker has not yet: a dictionary comparison per
    request, no query (the settings cache re-reads at most once a TTL)."""
    app = current_app
    choice = stored_choice()
    if app.extensions.get("backoffice.navigation_applied") == choice:
        return
    arrange(app.extensions["appbuilder"], app.extensions["backoffice.menu_orders"], choice)
    app.extensions["backoffice.navigation_applied"] = choice


def sections() -> list[dict[str, Any]]:
    """The sections in their current order, with their seed name and shown label."""
    refresh_menu()
    items = current_app.extensions["appbuilder"].menu.menu
    return [
        {"name": item.name, "label": item.label, "original": getattr(item, "_backoffice_label", "")}
        for item in items
    ]


class NavigationError(ValueError):
    pass


def save(order: list[str], labels: dict[str, str], *, actor: str | None = None) -> None:
    names = {item["name"] for item in sections()}
    unknown = [n for n in [*order, *labels] if n not in names]
    if unknown:
        raise NavigationError(f"no menu section named {unknown[0]!r}")
    if len(set(order)) != len(order):
        raise NavigationError("a section appears twice in the order")
    cleaned: dict[str, str] = {}
    for name, label in labels.items():
        label = " ".join(str(label).split())
        if len(label) > LABEL_MAX:
            raise NavigationError(f"the label of {name!r} is longer than {LABEL_MAX} characters")
        if label and label != name:
            cleaned[name] = label
    practice_settings.store_internal(
        {STORED_KEY: {"order": list(order), "labels": cleaned}}, actor=actor
    )
    refresh_menu()


def reset(*, actor: str | None = None) -> None:
    practice_settings.store_internal({STORED_KEY: {}}, actor=actor)
    refresh_menu()
