"""Statement imports as background jobs: validated and queued in the request, matched here in batches.

The request (`queue_statement`) parses the whole file, refuses it with the bad line named, and stores it with
its import row in state `queued`. The job (`run_statement_import`) matches up to BATCH_SIZE lines (or
BATCH_SECONDS of work) per transaction and commits each batch with `processed` moved on, so SQLite's one writer is held for a moment at a time,
the rest of the service keeps answering, and the page can show progress. A job killed mid-way loses only its
uncommitted batch: a re-run (the sweep re-drives a stalled import) starts after the last committed line, and
a unique (import_id, line_no) index refuses any line stored twice. States: queued → running → done | failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from core import audit, jobs
from core.clock import utcnow
from core.errors import InvalidInput
from finance.models import StatementImport
from finance.parsers import ImportFormatError
from finance.reconcile import (
    PreparedStatement,
    finish_statement,
    late_days_setting,
    match_lines,
    parse_upload,
    prepare_statement,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 500  # lines per transaction at most
# ... and at most about this long: SQLite has one writer, and a slow or busy machine must not make the others
# (a citizen's payment, a gateway's IPN) wait out their busy timeout. Lines are matched CHUNK at a time until
# either bound is reached, then committed; between two transactions the job pauses for PAUSE so that a writer
# waiting on the lock gets it before the job takes it again.
BATCH_SECONDS = 1.0
CHUNK = 20
PAUSE = 0.05
STALLED_AFTER = timedelta(minutes=5)  # a running import with no batch committed for this long is re-driven


class DuplicateStatement(InvalidInput):
    """Raised when the same file (by SHA-256) was imported before for the centre."""

    code = "statement-duplicate"


def queue_statement(session: Session, centre_id: int, source: str, filename: str, data: bytes,
                    actor: audit.Actor) -> StatementImport:
    """Validate the file and queue its matching; the job starts once the caller commits."""
    prepared: PreparedStatement = prepare_statement(session, centre_id, source, filename, data, actor,
                                                    state="queued", keep_file=True)
    if not prepared.created:
        earlier = prepared.statement
        raise DuplicateStatement(
            f"statement already imported as #{earlier.id}",
            errors={"file": [f"Tệp này đã được nhập (lần nhập #{earlier.id}, tệp {earlier.filename}); "
                             "không nhập lại."]})
    statement = prepared.statement
    audit.record(session, actor, "reconciliation.queued", entity_type="statement_import", entity_id=statement.id,
                 after={"source": source, "filename": statement.filename, "lines": statement.line_count},
                 centre_id=centre_id)
    jobs.enqueue_after_commit(session, run_statement_import, statement.id)
    return statement


def _actor(statement: StatementImport) -> audit.Actor:
    kind, _, ident = (statement.imported_by or "system:").partition(":")
    return audit.Actor(type=kind or "system", id=ident or None, name=ident or None, centre_id=statement.centre_id)


def process_import(import_id: int, *, batch_size: int = BATCH_SIZE, late_days: int | None = None,
                   after_batch: Callable[[int, int], None] | None = None) -> str | None:
    """Match an import's remaining lines, one committed batch at a time; returns its final state.

    `after_batch(processed, total)` is called after each commit (tests watch progress with it)."""
    if late_days is None:
        late_days = late_days_setting(jobs.settings())
    db = jobs.database()
    with db.session() as session:
        statement = session.get(StatementImport, import_id)
        if statement is None or statement.state in ("done", "failed"):
            return statement.state if statement else None
        statement.state, statement.updated_at = "running", utcnow()
        source, data = statement.source, statement.raw_file or b""
    try:
        parsed = parse_upload(source, "", data)
    except (InvalidInput, ImportFormatError) as e:  # validated on upload: only a changed parser gets here
        return _fail(import_id, f"Không đọc lại được tệp: {getattr(e, 'errors', {}).get('file', [str(e)])[0]}")
    while True:
        with db.session() as session:
            statement = session.get(StatementImport, import_id)
            if statement.state != "running":
                return statement.state
            start = statement.processed or 0
            batch = parsed[start:start + batch_size]
            if batch:
                try:
                    began, done = time.monotonic(), 0
                    while done < len(batch) and (done == 0 or time.monotonic() - began < BATCH_SECONDS):
                        match_lines(session, statement, batch[done:done + CHUNK], late_days=late_days)
                        done += len(batch[done:done + CHUNK])
                    session.commit()
                except IntegrityError:
                    # Another run of the same import stored these lines first; it carries on, this one stops.
                    session.rollback()
                    log.warning("statement import batch already stored by another run", extra={"import_id": import_id})
                    return "running"
                processed, total = statement.processed, statement.line_count
            else:
                # The last transaction: payments the file lacks, late credits, and `done`, all or nothing.
                claimed = session.execute(update(StatementImport).where(
                    StatementImport.id == import_id, StatementImport.state == "running").values(
                    updated_at=utcnow()).execution_options(synchronize_session=False)).rowcount
                if not claimed:
                    return None
                finish_statement(session, statement, _actor(statement))
                return "done"
        if after_batch is not None:
            after_batch(processed, total)
        time.sleep(PAUSE)


def _fail(import_id: int, message: str) -> str:
    with jobs.session_scope() as session:
        statement = session.get(StatementImport, import_id)
        statement.state, statement.message, statement.finished_at = "failed", message, utcnow()
    return "failed"


@jobs.job(retries=5)
def run_statement_import(import_id: int) -> None:
    try:
        process_import(import_id)
    except OperationalError as e:  # "database is locked" and the like: the committed batches stay, try again
        raise jobs.RetryableJobError(str(e)) from e
    except Exception:
        log.exception("statement import failed", extra={"import_id": import_id})
        with jobs.session_scope() as session:
            processed = session.get(StatementImport, import_id).processed
        _fail(import_id, f"Đối chiếu dừng sau {processed:,} dòng do lỗi hệ thống; các dòng đã đối chiếu được giữ "
                         "nguyên. Hãy báo quản trị hệ thống.".replace(",", "."))


@jobs.register_sweeper
def redrive_statement_imports(session: Session) -> int:
    """Imports queued or running with no batch committed for STALLED_AFTER: their job was lost or killed."""
    stalled = session.scalars(select(StatementImport.id).where(
        StatementImport.state.in_(("queued", "running")),
        StatementImport.updated_at < utcnow() - STALLED_AFTER)).all()
    for import_id in stalled:
        jobs.enqueue_after_commit(session, run_statement_import, import_id)
    return len(stalled)
