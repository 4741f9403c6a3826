"""discrepancy list work (issue 17)

Placeholder reserved for the change that needs it; no schema change yet.

Revision ID: 0021
Revises: 0020
"""

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
