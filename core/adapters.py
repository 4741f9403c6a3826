"""One registry mechanism and one missing-credentials rule for every kind of adapter (carriers, gateways).

An adapter package registers its class here when it is imported (`Registry.register`); the packages are
imported by name from `core.registry.ADAPTER_MODULES`, so nothing here (nor the interface modules that
hold a registry) imports an adapter, and adding one is one line in that list. A setting an adapter needs
has a sandbox value that serves the embedded default only: in production it must be set, which the start-up
check says for every registered adapter at once, and `credential` refuses at use should one be unset anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from core.settings import Settings

T = TypeVar("T")


class NotConfigured(Exception):
    """Raised in production when a setting an adapter needs is unset (the start-up check should have said so)."""

    def __init__(self, adapter: str, setting: str):
        super().__init__(f"{setting} is not set; {adapter} cannot be used")
        self.adapter, self.setting = adapter, setting


class UnknownAdapter(LookupError):
    """Raised when no adapter of the kind is registered under the name asked for."""

    def __init__(self, kind: str, name: str, known: list[str]):
        super().__init__(f"unknown {kind} {name!r} (known: {', '.join(known) or 'none'})")
        self.kind, self.name, self.known = kind, name, known


def credential(settings: Settings, adapter: str, name: str, sandbox_value: str) -> str:
    """The one rule for an adapter's setting: its value when set; else the sandbox's value outside
    production; in production, NotConfigured (a production service never sends a sandbox secret)."""
    value = settings.get(name)
    if value:
        return value
    if settings.production:
        raise NotConfigured(adapter, name)
    return sandbox_value


@dataclass
class Entry(Generic[T]):
    """One registered adapter: its class, the settings production must set, and anything else the kind
    keeps per adapter (a carrier's config reader, how a centre's account is laid over it)."""

    name: str
    cls: type[T]
    required_settings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    # Carriers' older code reads an entry as (cls, config_from): kept so tests that register fakes work.
    def __getitem__(self, index: int) -> Any:
        return (self.cls, self.extra.get("config"))[index]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.extra.get("config")))


class Registry(Generic[T]):
    """Adapters of one kind by name, in registration order (the order of `core.registry.ADAPTER_MODULES`)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.entries: dict[str, Entry[T]] = {}
        _REGISTRIES[kind] = self

    def register(self, name: str, cls: type[T], *, required_settings: tuple[str, ...] = (), **extra: Any) -> type[T]:
        """Make `cls` available as `name` (registering a name again replaces it: a test's fake)."""
        self.entries[name] = Entry(name=name, cls=cls, required_settings=tuple(required_settings), extra=extra)
        return cls

    def unregister(self, name: str) -> None:
        self.entries.pop(name, None)

    def _loaded(self) -> dict[str, Entry[T]]:
        from core.registry import import_adapters

        import_adapters()
        return self.entries

    def names(self) -> list[str]:
        return list(self._loaded())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def entry(self, name: str) -> Entry[T]:
        entries = self._loaded()
        if name not in entries:
            raise UnknownAdapter(self.kind, name, list(entries))
        return entries[name]

    def get_class(self, name: str) -> type[T]:
        return self.entry(name).cls

    def get(self, name: str, *args: Any, **kwargs: Any) -> T:
        """An instance of the adapter `name`, built with the arguments its kind's constructor takes."""
        return self.entry(name).cls(*args, **kwargs)

    def required(self, name: str) -> tuple[str, ...]:
        return self.entry(name).required_settings

    def missing_settings(self, settings: Settings, names: list[str] | None = None) -> dict[str, list[str]]:
        """For each adapter of `names` (all registered when None), the required settings left unset."""
        out: dict[str, list[str]] = {}
        for name in names if names is not None else self.names():
            missing = [s for s in self.required(name) if not settings.get(s)]
            if missing:
                out[name] = missing
        return out

    def production_problems(self, settings: Settings, names: list[str] | None = None, *, hint: str = "") -> list[str]:
        """The start-up check's sentences for adapters missing settings (one per adapter)."""
        return [f"the {name} {self.kind} needs {', '.join(missing)} (unset){hint}"
                for name, missing in self.missing_settings(settings, names).items()]


_REGISTRIES: dict[str, Registry[Any]] = {}


def registry(kind: str) -> Registry[Any]:
    """The registry of adapters of `kind` ("carrier", "gateway"), with every adapter module imported: how a
    package below the adapters' own (province, for a unit's gateway credentials) reads what they declare."""
    from core.registry import import_adapters

    import_adapters()
    return _REGISTRIES[kind]


def decorator(registry: Registry[T], name: str, **kwargs: Any) -> Callable[[type[T]], type[T]]:
    """`@decorator(REGISTRY, "name", required_settings=(...))` on an adapter class."""

    def decorate(cls: type[T]) -> type[T]:
        return registry.register(name, cls, **kwargs)

    return decorate
