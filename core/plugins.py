"""Discovery, registration and runtime switching of plugins."""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from core import hookspecs
from core.events import DeclaredEvent, EventContractError, problem_with, validate_specs
from core.types import API_VERSION, DomainEvent, PluginInfo

log = logging.getLogger(__name__)

ENABLED = "enabled"
DISABLED = "disabled"
FAILED = "failed"


@dataclass
class PluginRecord:
    """What the host knows about one installed plugin."""

    name: str
    module: ModuleType | None = None
    info: PluginInfo | None = None
    distribution: str | None = None
    dist_version: str | None = None
    error: str | None = None
    blueprints: set[str] = field(default_factory=set)
    socket_events: set[str] = field(default_factory=set)
    #: FAB view menus (views' ``class_permission_name``) and menu entries it registered.
    view_menus: set[str] = field(default_factory=set)
    menu_names: set[str] = field(default_factory=set)

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def version(self) -> str:
        if self.info is not None:
            return self.info.version
        return self.dist_version or "unknown"

    @property
    def title(self) -> str:
        return self.info.title if self.info else self.name

    @property
    def requires(self) -> tuple[str, ...]:
        return self.info.requires if self.info else ()

    @property
    def menu_section(self) -> str | None:
        return self.info.menu_section if self.info else None

    @property
    def directory(self) -> Path | None:
        if self.module is None or self.module.__file__ is None:
            return None
        return Path(self.module.__file__).parent


EXTENSION = "backoffice.plugins"


def plugin_manager() -> PluginManager:
    """The plugin manager of the current app (the host puts it in ``app.extensions``)."""
    from flask import current_app

    manager: PluginManager = current_app.extensions[EXTENSION]
    return manager


class PluginSwitchError(Exception):
    """An enable/disable that the dependency rules refuse."""


class PluginManager:
    """Wraps pluggy: finds plugins through entry points and keeps their records."""

    def __init__(self, allow: Iterable[str] = (), block: Iterable[str] = ()) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.allow = set(allow)
        self.block = set(block)
        self.records: dict[str, PluginRecord] = {}
        self.states = PluginStates(self)
        #: The domain-event catalogue (``None`` until :meth:`declare_events` ran).
        self.catalogue: dict[str, DeclaredEvent] | None = None
        #: Raise on an undeclared or non-matching domain event (tests, debug) or log it.
        self.strict_events = False
        self._order: dict[str, list[PluginRecord]] = {}
        # The order only changes when a plugin is found or fails; hooks run on every event.
        self._loaded: list[PluginRecord] | None = None

    # --- discovery -----------------------------------------------------------
    def discover(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            if entry_point.name in self.records or not self._admitted(entry_point.name):
                continue
            record = PluginRecord(name=entry_point.name)
            if entry_point.dist is not None:
                record.distribution = entry_point.dist.name
                record.dist_version = entry_point.dist.version
            self.records[record.name] = record
            self._loaded = None
            self._order.clear()
            try:
                module = entry_point.load()
                self.pm.register(module, name=record.name)
                record.module = module
                self._check_hook_names(record.name, module)
                record.info = self._info_of(record)
            except Exception:
                self.fail(record.name, traceback.format_exc())
        self._check_dependencies()
        self._loaded = None

    def _check_hook_names(self, name: str, module: ModuleType) -> None:
        """A misspelt hook would be silently ignored: refuse the plugin instead. Hook
        wrappers are refused too: the host calls each plugin's implementation on its own
        (to isolate failures and skip disabled plugins), so a wrapper would never wrap."""
        known = {n for n in dir(hookspecs) if n.startswith("backoffice_")}
        unknown: list[str] = []
        wrappers: list[str] = []
        for attr in dir(module):
            options = getattr(getattr(module, attr), f"{hookspecs.PROJECT_NAME}_impl", None)
            if not isinstance(options, dict):
                continue
            hook = options.get("specname") or attr
            if hook not in known:
                unknown.append(hook)
            if options.get("wrapper") or options.get("hookwrapper"):
                wrappers.append(hook)
        if unknown:
            raise TypeError(f"plugin {name!r} implements unknown hooks: {', '.join(unknown)}")
        if wrappers:
            raise TypeError(
                f"plugin {name!r}: hook wrappers are not supported ({', '.join(wrappers)}); "
                "the host calls each plugin's implementation on its own"
            )

    def _admitted(self, name: str) -> bool:
        if name in self.block:
            return False
        return not self.allow or name in self.allow

    def _info_of(self, record: PluginRecord) -> PluginInfo:
        info = self.call_one(record.name, "backoffice_plugin_info")
        if not isinstance(info, PluginInfo):
            raise TypeError(f"backoffice_plugin_info must return PluginInfo, got {info!r}")
        version = info.api_version
        if not isinstance(version, int) or isinstance(version, bool):
            raise TypeError(
                f"PluginInfo.api_version must be an integer such as {API_VERSION}, "
                f"got {version!r} ({type(version).__name__})"
            )
        if not 1 <= version <= API_VERSION:
            raise RuntimeError(
                f"targets plugin API {version}; this host implements {API_VERSION} "
                f"(api_version must be between 1 and {API_VERSION})"
            )
        return info

    def _check_dependencies(self) -> None:
        changed = True
        while changed:
            changed = False
            for record in self.records.values():
                if record.failed:
                    continue
                for required in record.requires:
                    other = self.records.get(required)
                    if other is None or other.failed:
                        why = "is not installed" if other is None else "failed to load"
                        self.fail(record.name, f"requires plugin {required!r}, which {why}")
                        changed = True
                        break

    def fail(self, name: str, error: str) -> None:
        """Record a plugin as failed and stop calling its hooks."""
        log.error("plugin %s failed: %s", name, error)
        record = self.records[name]
        record.error = error
        self._order.clear()
        self._loaded = None
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)

    # --- ordering ------------------------------------------------------------
    def loaded(self) -> list[PluginRecord]:
        """Plugins that loaded, dependencies first, then by menu order and name."""
        if self._loaded is None:
            self._loaded = self._dependency_order()
        return list(self._loaded)

    def _dependency_order(self) -> list[PluginRecord]:
        ready = [r for r in self.records.values() if not r.failed]
        ordered: list[PluginRecord] = []
        placed: set[str] = set()
        pending = sorted(ready, key=_menu_key)
        while pending:
            for record in pending:
                if all(req in placed for req in record.requires):
                    ordered.append(record)
                    placed.add(record.name)
                    pending.remove(record)
                    break
            else:  # a cycle: fail whatever is left rather than loop forever
                for record in pending:
                    self.fail(record.name, "dependency cycle between plugins")
                break
        return ordered

    def all_records(self) -> list[PluginRecord]:
        return sorted(self.records.values(), key=_menu_key)

    # --- calling hooks ---------------------------------------------------------
    def call_one(self, name: str, hook_name: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of a hook; ``None`` when it has none."""
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.plugin_name == name:
                # Like pluggy: an implementation may accept fewer arguments than the spec.
                return impl.function(*(kwargs[arg] for arg in impl.argnames))
        return None

    def call_order(self, hook_name: str) -> list[PluginRecord]:
        """The loaded plugins that implement a hook, in the order they are called:
        ``tryfirst`` implementations, then the others (dependencies first, then by menu
        order and name), then ``trylast`` ones; as pluggy orders them, minus its
        last-registered-first rule, which would make the order depend on discovery."""
        order = self._order.get(hook_name)
        if order is None:
            caller = getattr(self.pm.hook, hook_name)
            tier = {
                impl.plugin_name: 0 if impl.tryfirst else 2 if impl.trylast else 1
                for impl in caller.get_hookimpls()
            }
            ready = [record for record in self.loaded() if record.name in tier]
            order = sorted(ready, key=lambda record: tier[record.name])
            self._order[hook_name] = order
        return order

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook on each enabled plugin that implements it, in :meth:`call_order`;
        one that raises is logged and skipped."""
        results: list[tuple[str, Any]] = []
        for record in self.call_order(hook_name):
            if not self.states.is_enabled(record.name):
                continue
            try:
                results.append((record.name, self.call_one(record.name, hook_name, **kwargs)))
            except Exception:
                log.exception("plugin %s failed in %s", record.name, hook_name)
                _rollback()
        return results

    def declare_events(self, name: str) -> None:
        """Add one plugin's declared domain events to the catalogue."""
        catalogue = self.catalogue if self.catalogue is not None else {}
        self.catalogue = catalogue
        specs = validate_specs(name, self.call_one(name, "backoffice_declared_events") or [])
        for spec in specs:
            other = catalogue.get(spec.name)
            if other is not None and other.plugin != name:
                raise ValueError(f"event {spec.name!r} is already declared by {other.plugin!r}")
        catalogue.update({spec.name: DeclaredEvent(plugin=name, spec=spec) for spec in specs})

    def check_event(self, event: DomainEvent) -> None:
        """Hold an event to the catalogue: raise when strict, else log what is wrong."""
        if self.catalogue is None:
            return
        problem = problem_with(event, self.catalogue)
        if problem is None:
            return
        if self.strict_events:
            raise EventContractError(problem)
        log.error(problem)

    def record(self, event: DomainEvent) -> None:
        """Let enabled plugins write what they keep of an event into the current transaction,
        each in a savepoint: one that raises loses its own rows, not the emitter's."""
        from core.database import db

        self.check_event(event)
        recorders = [
            record.name
            for record in self.call_order("backoffice_record_event")
            if self.states.is_enabled(record.name)
        ]
        if not recorders:
            return
        try:  # all in one savepoint: the common case, one round trip less per recorder
            with db.session.begin_nested():
                for name in recorders:
                    self.call_one(name, "backoffice_record_event", event=event)
            return
        except Exception:
            log.debug("a recorder of %s failed; recording one by one", event.name)
        for name in recorders:  # again, each alone, so that only the failing one is lost
            try:
                with db.session.begin_nested():
                    self.call_one(name, "backoffice_record_event", event=event)
            except Exception:
                log.exception("plugin %s failed to record event %s", name, event.name)

    def emit(self, event: DomainEvent) -> None:
        """Deliver a committed domain event to enabled plugins; one that raises does not
        stop the rest."""
        for record in self.call_order("backoffice_domain_event"):
            if not self.states.is_enabled(record.name):
                continue
            try:
                self.call_one(record.name, "backoffice_domain_event", event=event)
            except Exception:
                log.exception("plugin %s failed on event %s", record.name, event.name)
                _rollback()

    # --- ownership -------------------------------------------------------------
    def owner_of_blueprint(self, blueprint: str | None) -> str | None:
        if blueprint is None:
            return None
        for record in self.records.values():
            if blueprint in record.blueprints:
                return record.name
        return None

    def state_of(self, name: str) -> str:
        record = self.records[name]
        if record.failed:
            return FAILED
        return ENABLED if self.states.is_enabled(name) else DISABLED

    # --- switching -------------------------------------------------------------
    def check_switch(self, name: str, enable: bool) -> None:
        """Raise :class:`PluginSwitchError` with the reason when the switch is not allowed."""
        record = self.records.get(name)
        if record is None:
            raise PluginSwitchError(f"no plugin named {name!r} is installed")
        if record.failed:
            raise PluginSwitchError(f"plugin {name!r} failed to load; see its error")
        if enable:
            missing = [req for req in record.requires if not self.states.is_enabled(req)]
            if missing:
                raise PluginSwitchError(
                    f"cannot enable {name!r}: it requires {', '.join(missing)}, which is disabled"
                )
            return
        dependants = [
            other.name
            for other in self.records.values()
            if name in other.requires and not other.failed and self.states.is_enabled(other.name)
        ]
        if dependants:
            raise PluginSwitchError(
                f"cannot disable {name!r}: enabled plugin(s) {', '.join(sorted(dependants))} "
                "require it; disable them first"
            )


def _rollback() -> None:
    from core.database import db

    try:
        db.session.rollback()
    except Exception:  # outside an app context there is nothing to roll back
        log.debug("no session to roll back")


def _menu_key(record: PluginRecord) -> tuple[int, str]:
    return (record.info.menu_order if record.info else 10_000, record.name)


class PluginStates:
    """The persisted on/off switches, cached per worker for ``PLUGIN_STATE_TTL`` seconds.

    Every worker reads the switches from the shared database, so a change made by one
    worker (or the CLI) is seen by all of them within the TTL.
    """

    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager
        self.ttl = 1.0
        self._loader: Callable[[], dict[str, bool]] | None = None
        self._on_change: Callable[[dict[str, bool]], None] | None = None
        self._loaded_once = False
        self._generation = 0
        self._cache: dict[str, bool] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def bind(
        self,
        loader: Callable[[], dict[str, bool]],
        ttl: float,
        on_change: Callable[[dict[str, bool]], None] | None = None,
    ) -> None:
        """``on_change`` hears the switches that a refresh found changed (by another
        worker or the command line), e.g. to tell this worker's open pages."""
        self._loader = loader
        self._on_change = on_change
        self.ttl = ttl
        self.invalidate()

    def refresh(self) -> None:
        """Re-read the switches now if the cached copy is older than the TTL."""
        self._snapshot()

    def invalidate(self) -> None:
        """Read the switches again on next use; a refresh already under way (it may have
        read before the change) keeps its result to itself."""
        self._generation += 1
        self._loaded_at = float("-inf")

    def note(self, name: str, enabled: bool) -> None:
        """A switch this worker just committed: seen here at once, even by a handler that
        finds another one refreshing."""
        self._cache = {**self._cache, name: enabled}
        self.invalidate()

    def _snapshot(self) -> dict[str, bool]:
        now = time.monotonic()
        # One handler refreshes while the others go on with the switches they have: a
        # handler must never wait here while it holds a database connection.
        if (
            self._loader is not None
            and now - self._loaded_at > self.ttl
            and self._lock.acquire(blocking=False)
        ):
            try:
                before, first, generation = self._cache, not self._loaded_once, self._generation
                loaded = self._loader()
                if generation == self._generation:  # no switch noted meanwhile
                    self._cache = loaded
                    self._loaded_at, self._loaded_once = now, True
                    self._report(before, first)
            except Exception as exc:
                # Keep serving from the last known switches if the database blips.
                log.warning("could not read plugin switches: %s", str(exc).splitlines()[0])
            finally:
                self._lock.release()
        return self._cache

    def _report(self, before: dict[str, bool], first: bool) -> None:
        changed = {n: on for n, on in self._cache.items() if before.get(n) != on}
        changed.update({n: self.is_enabled(n) for n in before if n not in self._cache})
        if changed and not first and self._on_change is not None:
            try:
                self._on_change(changed)
            except Exception:
                log.exception("could not announce plugin switches %s", sorted(changed))

    def is_enabled(self, name: str) -> bool:
        record = self.manager.records.get(name)
        if record is None or record.failed:
            return False
        default = record.info.enabled_by_default if record.info else True
        return self._snapshot().get(name, default)
