"""statement imports as background jobs with progress (issue 17)

A statement is validated in the request and matched by a job (finance.imports) in batches, each batch
committed with the count of lines done, so the page shows progress and other requests keep answering.
`statement_import` gets the job's state (queued, running, done, failed), `processed` lines, the failure
message, the uploaded file (the job reads it; a re-run reads it again), and when it last committed and
finished. Existing imports were made in one request: they are `done` with every line processed.
A unique index on (import_id, line_no) makes sure a re-run of a killed job never stores a line twice.

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("statement_import", sa.Column("state", sa.String(length=16), nullable=False, server_default="done"))
    op.add_column("statement_import", sa.Column("processed", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("statement_import", sa.Column("message", sa.Text(), nullable=True))
    op.add_column("statement_import", sa.Column("raw_file", sa.LargeBinary(), nullable=True))
    op.add_column("statement_import", sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("statement_import", sa.Column("finished_at", core.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE statement_import SET processed = line_count")
    op.create_index("ix_statement_import_state", "statement_import", ["state"])
    op.create_index("uq_statement_line_import_line", "statement_line", ["import_id", "line_no"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_statement_line_import_line", table_name="statement_line")
    op.drop_index("ix_statement_import_state", table_name="statement_import")
    # Plain DROP COLUMN (SQLite 3.35+), not a table copy that the foreign keys to statement_import refuse.
    for column in ("finished_at", "updated_at", "raw_file", "message", "processed", "state"):
        op.drop_column("statement_import", column)
