"""The append-only audit log: every state change and every refused attempt writes one row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import AuditLog


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user, an API client, a citizen, a gateway/carrier callback, or the system."""

    type: str
    id: str | None = None
    name: str | None = None
    centre_id: int | None = None
    ip: str | None = None


SYSTEM = Actor(type="system", name="hcc")


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    entity_type: str | None = None,
    entity_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
    centre_id: int | None = None,
) -> AuditLog:
    """Add an audit row to the caller's transaction (it commits or rolls back with the change).

    Written at once by one INSERT on the transaction's connection, rather than left to the next flush of the
    unit of work: a row that is never edited needs none of its bookkeeping, and on hot paths (an IPN) that
    flush was the dearest part of writing it. The row returned is detached, with its id.
    """
    values = {"at": utcnow(), "actor_type": actor.type, "actor_id": actor.id, "actor_name": actor.name,
              "centre_id": centre_id if centre_id is not None else actor.centre_id, "action": action,
              "entity_type": entity_type, "entity_id": None if entity_id is None else str(entity_id),
              "before": before, "after": after, "detail": detail, "ip": actor.ip}
    result = session.connection().execute(_INSERT, values)
    return AuditLog(id=result.inserted_primary_key[0], **values)


_INSERT = AuditLog.__table__.insert()
