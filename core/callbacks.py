"""Inbound callbacks (IPNs, bank notifications, carrier webhooks): stored verbatim first, then judged."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.clock import utcnow
from core.db import Database
from core.models import InboundCallback

# Headers never stored: they carry credentials of our own callers, not the event.
_DROP_HEADERS = {"authorization", "cookie"}


@dataclass(frozen=True)
class RawCallback:
    """What arrived, as plain data (the api layer builds it from the HTTP request)."""

    source: str
    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    remote_addr: str | None = None


def store(db: Database, raw: RawCallback) -> int:
    """Commit the callback in its own transaction before anything acts on it; returns its id.

    One INSERT on a connection of its own, committed before this returns: the row is the same as an ORM
    session would write, without a session to build and tear down on every callback (a hot path: the IPN
    benchmark, docs/scale.md).
    """
    values = {"source": raw.source, "method": raw.method, "path": raw.path, "query_string": raw.query_string,
              "headers": {k: v for k, v in raw.headers.items() if k.lower() not in _DROP_HEADERS},
              "body": raw.body, "remote_addr": raw.remote_addr, "received_at": utcnow()}
    with db.engine.begin() as conn:
        return conn.execute(_INSERT, values).inserted_primary_key[0]


def settle(session: Session, callback_id: int, outcome: str, *, detail: str | None = None,
           dedup_key: str | None = None, entity_type: str | None = None, entity_id: object = None) -> None:
    """Record what became of a stored callback (in the transaction that acted on it).

    A single UPDATE by id: the stored request itself (its verbatim fields) is never read or written again.
    """
    values: dict[str, object] = {"outcome": outcome, "detail": detail, "processed_at": utcnow()}
    if dedup_key is not None:
        values["dedup_key"] = dedup_key
    if entity_type is not None:
        values["entity_type"], values["entity_id"] = entity_type, None if entity_id is None else str(entity_id)
    # A Core UPDATE on the transaction's connection: the ORM's bulk-update machinery costs more than the
    # statement here. A row the session holds (a caller read it back) is told the new values.
    session.connection().execute(_settle_statement(tuple(values)), {"callback_id": callback_id, **values})
    row = session.identity_map.get(session.identity_key(InboundCallback, callback_id))
    if row is not None:
        for key, value in values.items():
            set_committed_value(row, key, value)


_TABLE = InboundCallback.__table__
_INSERT = _TABLE.insert()
_SETTLE: dict[tuple[str, ...], object] = {}


def _settle_statement(keys: tuple[str, ...]):
    """The UPDATE for these columns, built once (building it and its cache key cost more than running it)."""
    stmt = _SETTLE.get(keys)
    if stmt is None:
        stmt = _SETTLE[keys] = update(_TABLE).where(_TABLE.c.id == bindparam("callback_id"))
    return stmt


def seen_before(session: Session, source: str, dedup_key: str, *, exclude_id: int | None = None) -> bool:
    """True when an earlier callback with this key was accepted (a replay or a gateway retry)."""
    stmt = select(InboundCallback.id).where(InboundCallback.source == source, InboundCallback.dedup_key == dedup_key,
                                            InboundCallback.outcome.in_(("accepted", "flagged")))
    if exclude_id is not None:
        stmt = stmt.where(InboundCallback.id != exclude_id)
    return session.scalars(stmt.limit(1)).first() is not None
