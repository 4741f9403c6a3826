"""Bulk resolves too large for a request: stored, then done by a job in batches, re-driven by the sweep.

Resolving 20,000 discrepancies is one UPDATE that writes every index of the table: measured 0.3–0.5 s on
SQLite and 0.6–3 s on PostgreSQL on a loaded 2-core machine (docs/finance/discrepancy-list.md). Above
`finance.discrepancies.INLINE_MAX` rows the confirmed action is stored here and a job resolves it in batches
of `BATCH` rows, one short transaction each, so payments and callbacks keep getting the database's write
lock meanwhile. The stored row is the truth: a lost job is found by the sweep and resumes where it stopped
(each batch resolves only rows still open), and the one audit entry is written once, by whichever run
finishes it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import audit, jobs
from core.clock import utcnow
from core.db import Base, UTCDateTime
from finance import discrepancies as dl
from finance.models import Discrepancy

log = logging.getLogger(__name__)

BATCH = 1_000
STALE = timedelta(minutes=2)  # a queued or running action untouched this long has lost its job


class BulkResolution(Base):
    """A confirmed bulk resolve waiting for, or done by, its job: who asked, the filter, the note, the count."""

    __tablename__ = "discrepancy_bulk_resolution"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the list's query arguments
    ids: Mapped[list[int] | None] = mapped_column(JSON)  # rows chosen one by one, or None: every match
    max_id: Mapped[int] = mapped_column(Integer)
    expected: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    actor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued, running, done
    resolved_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def request_bulk_resolve(session: Session, f: dl.Filters, *, ids: list[Any] | None, action: str, note: str | None,
                         actor: audit.Actor, expected: int, max_id: int) -> BulkResolution:
    """Store a confirmed bulk resolve for the job (enqueued once the caller commits).

    Refused as `bulk_resolve` refuses: an incomplete form, a link (one row's decision), or a list that no longer
    has the confirmed number of rows."""
    chosen, errors = dl.parse_selection(ids)
    cleaned = dl.check_resolution(action, note, None, errors)
    if action == "link":
        errors["action"] = ["Liên kết với khoản thu chỉ áp dụng cho từng chênh lệch một: chọn đúng một dòng."]
    if errors:
        from core.errors import InvalidInput

        raise InvalidInput("bulk resolution incomplete", errors=errors)
    dl.check_unchanged(session, f, chosen, max_id, expected)
    row = BulkResolution(centre_id=f.centre_id, filters=f.as_args(), ids=chosen, max_id=max_id, expected=expected,
                         action=action, note=cleaned or "", status="queued", created_at=utcnow(), updated_at=utcnow(),
                         actor={"type": actor.type, "id": actor.id, "name": actor.name, "centre_id": actor.centre_id,
                                "ip": actor.ip})
    session.add(row)
    session.flush()
    jobs.enqueue_after_commit(session, run_bulk_resolution, row.id)
    return row


def recent(session: Session, centre_id: int, limit: int = 3) -> list[BulkResolution]:
    """The centre's latest bulk actions done by the job, for the list page to say how each went."""
    return list(session.scalars(select(BulkResolution).where(BulkResolution.centre_id == centre_id)
                                .order_by(BulkResolution.id.desc()).limit(limit)))


def resolve_batches(session: Session, bulk_id: int) -> None:
    """Resolve a stored bulk action batch by batch, committing each; safe to run twice or after a crash."""
    b = session.get(BulkResolution, bulk_id)
    if b is None or b.status == "done":
        return
    f, _page, _errors = dl.parse_filters(b.filters, b.centre_id)
    who = f"{b.actor.get('type')}:{b.actor.get('id') or b.actor.get('name')}"
    where = dl.bulk_where(f, b.ids, b.max_id)
    while True:
        batch = session.scalars(select(Discrepancy.id).where(*where).order_by(Discrepancy.id).limit(BATCH)).all()
        if not batch:
            break
        done = session.execute(
            update(Discrepancy).where(Discrepancy.id.in_(batch), Discrepancy.status == "open")
            .values(status="resolved", action=b.action, note=b.note, resolved_by=who, resolved_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
        # An increment in SQL: two runs of the same job (a sweep racing the queue) each add only their own rows.
        session.execute(update(BulkResolution).where(BulkResolution.id == b.id,
                                                     BulkResolution.status.in_(("queued", "running")))
                        .values(status="running", resolved_count=BulkResolution.resolved_count + done,
                                updated_at=utcnow()).execution_options(synchronize_session=False))
        session.commit()
    # Exactly one run finishes it and writes its audit entry.
    finished = session.execute(update(BulkResolution).where(BulkResolution.id == b.id,
                                                            BulkResolution.status.in_(("queued", "running")))
                               .values(status="done", finished_at=utcnow(), updated_at=utcnow())
                               .execution_options(synchronize_session=False)).rowcount
    if finished:
        session.refresh(b)
        actor = audit.Actor(type=b.actor.get("type") or "user", id=b.actor.get("id"), name=b.actor.get("name"),
                            centre_id=b.actor.get("centre_id"), ip=b.actor.get("ip"))
        audit.record(session, actor, "discrepancy.bulk_resolved", entity_type="discrepancy_bulk_resolution",
                     entity_id=b.id,
                     after={"status": "resolved", "action": b.action, "count": b.resolved_count, "ids": b.ids,
                            "max_id": b.max_id, "filters": b.filters, "in_background": True},
                     detail=b.note, centre_id=b.centre_id)
    session.commit()


@jobs.job()
def run_bulk_resolution(bulk_id: int) -> None:
    with jobs.session_scope() as session:
        resolve_batches(session, bulk_id)


@jobs.register_sweeper
def resume_bulk_resolutions(session: Session) -> int:
    """Bulk actions whose job was lost (queued or running, untouched for a while) are enqueued again."""
    stale = session.scalars(select(BulkResolution.id).where(BulkResolution.status.in_(("queued", "running")),
                                                            BulkResolution.updated_at < utcnow() - STALE)).all()
    for bulk_id in stale:
        run_bulk_resolution(bulk_id)
    return len(stale)


def pending_count(session: Session, centre_id: int) -> int:
    return session.scalar(select(func.count()).select_from(BulkResolution).where(
        BulkResolution.centre_id == centre_id, BulkResolution.status.in_(("queued", "running")))) or 0
