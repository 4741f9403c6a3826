"""The audit log is append-only, enforced by the database itself."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import audit


def test_rows_cannot_be_edited_or_deleted(db):
    with db.session() as s:
        row = audit.record(s, audit.SYSTEM, "test.action", entity_type="x", entity_id=1)
        s.flush()
        row_id = row.id
    for sql in ("UPDATE audit_log SET action = 'changed' WHERE id = :id", "DELETE FROM audit_log WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(sql), {"id": row_id})
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_log WHERE id = :id"), {"id": row_id}).scalar() == "test.action"
