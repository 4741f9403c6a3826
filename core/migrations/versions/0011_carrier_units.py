"""carriers' own address catalogues and their mapping to our administrative units

carrier_catalogue: one row per carrier, its whole catalogue as last synced (JSON), matched to our
wards in memory (carriers.catalogue). carrier_unit_settlement: an administrator's decision for a
ward the matching could not settle, kept across syncs.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'carrier_catalogue',
        sa.Column('carrier', sa.String(length=32), nullable=False),
        sa.Column('units', sa.JSON(), nullable=False),
        sa.Column('unit_count', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('synced_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('synced_by', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('carrier', name=op.f('pk_carrier_catalogue')),
    )
    op.create_table(
        'carrier_unit_settlement',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('carrier', sa.String(length=32), nullable=False),
        sa.Column('ward_code', sa.String(length=8), nullable=False),
        sa.Column('carrier_ward_id', sa.String(length=64), nullable=False),
        sa.Column('settled_by', sa.String(length=64), nullable=True),
        sa.Column('settled_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_carrier_unit_settlement')),
        sa.UniqueConstraint('carrier', 'ward_code', name='uq_carrier_unit_settlement'),
    )


def downgrade() -> None:
    op.drop_table('carrier_unit_settlement')
    op.drop_table('carrier_catalogue')
