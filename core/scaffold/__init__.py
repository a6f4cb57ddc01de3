"""``backoffice new-plugin NAME``: a pip-installable plugin package of the standard shape.

The skeleton (``skeleton/``, files ending ``.tmpl``) is the smallest plugin that shows
every part once: a model and its migration, a list view and a custom page under its own
menu section, a Socket.IO event with its schema, a declared domain event and a listener,
a group rule, a setting, a help article, tests on the host's installed fixtures, and the
entry point. ``@@name@@``-style markers are replaced in file names and contents.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

SKELETON = Path(__file__).parent / "skeleton"
NAME = re.compile(r"^[a-z][a-z0-9_]{1,38}[a-z0-9]$")
HOST_PLUGINS_RESERVED = {"core", "plugins", "tests", "config"}


class ScaffoldError(ValueError):
    """A name or folder that a new plugin cannot use."""


def check_name(name: str) -> None:
    if not NAME.match(name) or "__" in name:
        raise ScaffoldError(
            f"{name!r} cannot be a plugin name: use 3-40 lower-case letters, digits and single "
            "underscores, starting with a letter (it becomes the package, the event prefix "
            "and the table prefix)"
        )
    if keyword.iskeyword(name) or name in HOST_PLUGINS_RESERVED:
        raise ScaffoldError(f"{name!r} is reserved; choose another plugin name")


def markers(name: str) -> dict[str, str]:
    words = name.split("_")
    return {
        "@@name@@": name,
        "@@NAME@@": name.upper(),
        "@@Camel@@": "".join(w.capitalize() for w in words),
        "@@Title@@": " ".join(w.capitalize() for w in words),
        "@@slug@@": name.replace("_", "-"),
        "@@dist@@": f"backoffice-{name.replace('_', '-')}",
    }


def _fill(text: str, values: dict[str, str]) -> str:
    for marker, value in values.items():
        text = text.replace(marker, value)
    return text


def create(name: str, parent: Path) -> Path:
    """Write the project folder ``parent/<name>`` and return it."""
    check_name(name)
    target = parent / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another folder or name")
    values = markers(name)
    for source in sorted(SKELETON.rglob("*.tmpl")):
        relative = _fill(str(source.relative_to(SKELETON)), values).removesuffix(".tmpl")
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(_fill(source.read_text(encoding="utf-8"), values), encoding="utf-8")
    return target
