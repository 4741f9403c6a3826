"""Background jobs on Huey: SQLite storage in the embedded default, Redis across machines.

Jobs are idempotent and take ids, never objects; their truth is the database. A periodic sweep calls
every registered sweeper, which finds unfinished work from database state and enqueues it again, so
a lost job delays work but never loses it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.db import Database
from core.settings import Settings

log = logging.getLogger(__name__)

# One Huey instance; its storage is chosen by `configure` before any job is enqueued.
huey = Huey("hcc", immediate=False, utc=True, storage_class=MemoryStorage)

_state: dict[str, Any] = {"db": None, "settings": None}
_sweepers: list[Callable[[Session], int]] = []


class RetryableJobError(Exception):
    """Raised by job code when the work should be tried again later (an outside system is down)."""


def storage_for(url: str):
    if url.startswith("redis://") or url.startswith("rediss://"):
        return RedisStorage("hcc", url=url)
    if url.startswith("sqlite:///"):
        return SqliteStorage("hcc", filename=url[len("sqlite:///"):])
    if url.startswith("memory://"):
        return MemoryStorage("hcc")
    raise ValueError(f"HCC_QUEUE_URL must start with redis://, sqlite:/// or memory://, got {url!r}")


def configure(settings: Settings, db: Database) -> None:
    """Bind the queue to its storage and the jobs to a database (called by create_app)."""
    _state["settings"], _state["db"] = settings, db
    huey.immediate = False
    huey.storage = storage_for(settings.queue_url)
    huey.immediate = settings.queue_immediate


def database() -> Database:
    db = _state["db"]
    if db is None:
        raise RuntimeError("jobs are not configured: call core.jobs.configure first")
    return db


def settings() -> Settings:
    return _state["settings"]


@contextmanager
def session_scope() -> Iterator[Session]:
    with database().session() as session:
        yield session


def job(retries: int = 8, backoff: float = 5.0, max_delay: float = 3600.0):
    """A Huey task retried with exponential backoff (5 s, 10 s, 20 s ... capped) on RetryableJobError.

    Any other exception is logged and left for the sweep: the database state says what is unfinished.
    """

    def decorate(fn):
        @huey.task(context=True, name=fn.__name__)
        @wraps(fn)
        def run(*args, task=None, _attempt=0, **kwargs):
            try:
                return fn(*args, **kwargs)
            except RetryableJobError as e:
                attempt = int(_attempt)
                if huey.immediate or attempt >= retries:
                    log.warning("job gave up after %s attempts; the sweep will re-drive it", attempt,
                                extra={"job": fn.__name__, "error": str(e)})
                    return None
                delay = min(max_delay, backoff * (2 ** attempt))
                # Re-enqueue with a bumped attempt counter rather than Huey's fixed-delay retries.
                run.schedule(args=args, kwargs={**kwargs, "_attempt": attempt + 1}, delay=delay)
                return None

        return run

    return decorate


def enqueue_after_commit(session: Session, task, *args, **kwargs) -> None:
    """Enqueue `task(*args, **kwargs)` once `session` commits; dropped if it rolls back.

    Enqueueing inside the transaction could let a worker run before the data it needs is visible;
    enqueueing after commit can be lost if the process dies in between, which the sweep covers.
    """
    pending = session.info.setdefault("hcc_after_commit", [])
    pending.append((task, args, kwargs))


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    # SQLAlchemy fires after_commit when a savepoint is released too; the jobs wait for the real commit.
    if session.in_nested_transaction():
        return
    pending = session.info.pop("hcc_after_commit", [])
    for task, args, kwargs in pending:
        try:
            task(*args, **kwargs)
        except Exception:
            # In immediate mode the job ran here and failed; in queued mode the queue was unreachable.
            # Either way the sweep finds the unfinished work in the database.
            log.exception("after-commit job failed; the sweep will re-drive it", extra={"task": str(task)})


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop("hcc_after_commit", None)


def register_sweeper(fn: Callable[[Session], int]) -> Callable[[Session], int]:
    """Register a function that re-enqueues unfinished work; it returns how many it re-drove."""
    if fn not in _sweepers:
        _sweepers.append(fn)
    return fn


def sweep() -> dict[str, int]:
    """Run every sweeper once; each in its own transaction, so one failing does not stop the rest."""
    done: dict[str, int] = {}
    for fn in list(_sweepers):
        try:
            with session_scope() as session:
                done[fn.__name__] = fn(session)
        except Exception:
            log.exception("sweeper failed", extra={"sweeper": fn.__name__})
            done[fn.__name__] = -1
    return done


@huey.periodic_task(crontab(minute="*"))
def periodic_sweep():
    if _state["db"] is None:
        return
    if claim_sweep(int(time.time() // 60)):
        sweep()


def claim_sweep(minute: int) -> bool:
    """True for the first caller in `minute` across every consumer sharing the queue storage.

    Each `hcc worker`'s scheduler enqueues the periodic sweep on its own, so with three workers it ran three
    times a minute, each run enqueueing the same unfinished work again (the scale-out test, docs/scale.md,
    saw hundreds of duplicate jobs queued). One sweep a minute re-drives all of it; the claim is a key in the
    queue storage (Redis HSETNX), and last minute's is deleted. If the storage cannot be reached, sweep anyway.
    """
    try:
        if not huey.storage.put_if_empty(f"hcc.sweep.{minute}", b"1"):
            return False
        huey.storage.delete_data(f"hcc.sweep.{minute - 1}")
    except Exception:
        log.warning("could not claim the periodic sweep; sweeping anyway", exc_info=True)
    return True


def ping_queue() -> bool:
    """True when the queue storage answers (used by /readyz)."""
    try:
        huey.storage.queue_size()
        return True
    except Exception:
        log.warning("queue storage unreachable", exc_info=True)
        return False


class InProcessWorker:
    """The embedded default's worker: Huey's consumer running in threads beside the web server."""

    def __init__(self, workers: int = 2):
        self.consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                             check_worker_health=True, initial_delay=0.1, max_delay=1.0)
        self._started = threading.Event()

    def start(self) -> None:
        # Huey's start() installs its own signal handlers for a consumer that owns the process; here
        # the web server owns it, so its handlers are put back (our threads are daemons).
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        self.consumer.start()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        self._started.set()

    def stop(self) -> None:
        if self._started.is_set():
            self.consumer.stop(graceful=True)


__all__ = ["huey", "job", "register_sweeper", "sweep", "RetryableJobError", "configure",
           "session_scope", "InProcessWorker", "ping_queue"]
