"""discrepancy list work (issue 17): indexes for paging and filtering a month of discrepancies

The discrepancy list (finance.discrepancies) pages one centre's discrepancies, open by default, newest day
first, often narrowed to one statement import. Without these, a 20,000-row import was read and sorted whole
for every page (and `import_id` had no index at all). Each index ends with (day, id), the list's order, so a
page is a short walk of the index on SQLite and PostgreSQL alike; the bulk resolve's UPDATE finds its rows
through the same index.

Revision ID: 0021
Revises: 0020
"""
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_discrepancy_centre_status_day", "discrepancy", ["centre_id", "status", "day", "id"])
    op.create_index("ix_discrepancy_import_status_day", "discrepancy", ["import_id", "status", "day", "id"])


def downgrade() -> None:
    op.drop_index("ix_discrepancy_import_status_day", table_name="discrepancy")
    op.drop_index("ix_discrepancy_centre_status_day", table_name="discrepancy")
