"""Domain events inside one transaction: a package announces what happened, others react.

`emit` calls the handlers synchronously, in the caller's transaction, so whatever they write (an
audit row, a pending job) commits or rolls back with the change. Handlers that start outside work
use `core.jobs.enqueue_after_commit`, so no job runs against uncommitted state. This is how `fees`
tells `receipts` and `postal` that a payment was paid without importing them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.orm import Session

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def on(event: str) -> Callable[[Handler], Handler]:
    """Decorator: call the function with (session, **data) whenever `event` is emitted."""

    def register(fn: Handler) -> Handler:
        if fn not in _handlers[event]:
            _handlers[event].append(fn)
        return fn

    return register


def emit(session: Session, event: str, **data) -> None:
    for handler in list(_handlers.get(event, ())):
        handler(session, **data)
