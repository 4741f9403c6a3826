"""Domain events inside one transaction: a package announces what happened, others react.

`emit` calls the handlers synchronously, in the caller's transaction, so whatever they write (an
audit row, a pending job) commits or rolls back with the change. Handlers that start outside work
use `core.jobs.enqueue_after_commit`, so no job runs against uncommitted state. This is how `fees`
tells `receipts` and `postal` that a payment was paid without importing them.

Every event is declared in `core.domain_events` (meaning, data, emitter, handlers): `on` and `emit`
refuse any other name, and an event's handlers run in the order the table lists them, whatever order
their modules were imported in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.orm import Session

from core.domain_events import BY_NAME, DomainEvent

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = defaultdict(list)


class UndeclaredEventError(LookupError):
    """Raised by `on` and `emit` for an event name that `core.domain_events` does not list."""


def declared(event: str) -> DomainEvent:
    try:
        return BY_NAME[event]
    except KeyError:
        raise UndeclaredEventError(f"{event!r} is not a domain event: declare it in core/domain_events.py") from None


def handler_name(fn: Handler) -> str:
    """The handler's name in the table, "module:function"; a closure made by a factory is named after it."""
    return f"{fn.__module__}:{fn.__qualname__.split('.<locals>')[0]}"


def on(event: str) -> Callable[[Handler], Handler]:
    """Decorator: call the function with (session, **data) whenever `event` is emitted."""
    order = {name: i for i, name in enumerate(declared(event).handlers)}

    def register(fn: Handler) -> Handler:
        handlers = _handlers[event]
        if fn not in handlers:
            handlers.append(fn)
            # The table's order; a handler it does not list (the test says so) runs last.
            handlers.sort(key=lambda h: order.get(handler_name(h), len(order)))
        return fn

    return register


def emit(session: Session, event: str, **data) -> None:
    declared(event)
    for handler in list(_handlers.get(event, ())):
        handler(session, **data)
