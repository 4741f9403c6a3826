"""dossier collection by post: receiving at the centre, carrier labels stored

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Carrier labels are stored in shipment.label_pdf (0004); what is new is the centre's own record
    # that a dossier collected by post has reached its receiving desk.
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('received_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('received_note', sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_shipment_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_received_at'))
        batch_op.drop_column('received_note')
        batch_op.drop_column('received_by')
        batch_op.drop_column('received_at')
