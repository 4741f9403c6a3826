"""discrepancy list work (issue 17): indexes for paging and filtering a month of discrepancies

The discrepancy list (finance.discrepancies) pages one centre's discrepancies, open by default, newest day
first, often narrowed to one statement import. Without these, a 20,000-row import was read and sorted whole
for every page (and `import_id` had no index at all). Each index ends with (day, id), the list's order, so a
page is a short walk of the index on SQLite and PostgreSQL alike; the bulk resolve's UPDATE finds its rows
through the same index.

`discrepancy_bulk_resolution` stores a confirmed bulk resolve too large to do inside the request
(finance.discrepancy_jobs): a job resolves it in batches and the sweep re-drives it if the job is lost.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'discrepancy_bulk_resolution',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.Column('ids', sa.JSON(), nullable=True),
        sa.Column('max_id', sa.Integer(), nullable=False),
        sa.Column('expected', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('actor', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('resolved_count', sa.Integer(), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'],
                                name=op.f('fk_discrepancy_bulk_resolution_centre_id_centre')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_discrepancy_bulk_resolution')),
    )
    op.create_index(op.f('ix_discrepancy_bulk_resolution_centre_id'), 'discrepancy_bulk_resolution', ['centre_id'])
    op.create_index(op.f('ix_discrepancy_bulk_resolution_status'), 'discrepancy_bulk_resolution', ['status'])
    op.create_index("ix_discrepancy_centre_status_day", "discrepancy", ["centre_id", "status", "day", "id"])
    op.create_index("ix_discrepancy_import_status_day", "discrepancy", ["import_id", "status", "day", "id"])


def downgrade() -> None:
    op.drop_index(op.f('ix_discrepancy_bulk_resolution_status'), table_name='discrepancy_bulk_resolution')
    op.drop_index(op.f('ix_discrepancy_bulk_resolution_centre_id'), table_name='discrepancy_bulk_resolution')
    op.drop_table('discrepancy_bulk_resolution')
    op.drop_index("ix_discrepancy_import_status_day", table_name="discrepancy")
    op.drop_index("ix_discrepancy_centre_status_day", table_name="discrepancy")
