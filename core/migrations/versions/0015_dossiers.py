"""dossiers synced from the one-stop system, linked to payments, receipts and shipments

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # fee_type.online_amount (the reduced fee for online submission) came with 0007.
    op.create_table(
        'dossier',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('procedure_code', sa.String(length=64), nullable=False),
        sa.Column('procedure_name', sa.String(length=500), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('received_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('appointment_date', sa.Date(), nullable=True),
        sa.Column('submission', sa.String(length=16), nullable=False),
        sa.Column('delivery', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('resolved_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('returned_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('citizen_name', sa.String(length=255), nullable=False),
        sa.Column('citizen_phone', sa.String(length=32), nullable=True),
        sa.Column('citizen_email', sa.String(length=255), nullable=True),
        sa.Column('street', sa.String(length=255), nullable=True),
        sa.Column('ward', sa.String(length=128), nullable=True),
        sa.Column('province', sa.String(length=128), nullable=True),
        sa.Column('result_shipment_id', sa.Integer(), nullable=True),
        sa.Column('tracking_announced_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level IN ('province', 'district', 'commune')", name=op.f('ck_dossier_level_known')),
        sa.CheckConstraint("submission IN ('in_person', 'online', 'post')", name=op.f('ck_dossier_submission_known')),
        sa.CheckConstraint("delivery IN ('desk', 'post')", name=op.f('ck_dossier_delivery_known')),
        sa.CheckConstraint("status IN ('received', 'processing', 'result_ready', 'returned', 'cancelled')",
                           name=op.f('ck_dossier_status_known')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_dossier_centre_id_centre')),
        sa.ForeignKeyConstraint(['unit_id'], ['collecting_unit.id'], name=op.f('fk_dossier_unit_id_collecting_unit')),
        sa.ForeignKeyConstraint(['result_shipment_id'], ['shipment.id'],
                                name=op.f('fk_dossier_result_shipment_id_shipment')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier')),
        sa.UniqueConstraint('centre_id', 'code', name='uq_dossier_centre_code'),
    )
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_centre_id'), ['centre_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossier_procedure_code'), ['procedure_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossier_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossier_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossier_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossier_resolved_at'), ['resolved_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossier_result_shipment_id'), ['result_shipment_id'], unique=False)
        batch_op.create_index('ix_dossier_centre_appointment', ['centre_id', 'appointment_date'], unique=False)

    op.create_table(
        'dossier_centre',
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('carrier', sa.String(length=16), nullable=True),
        sa.Column('service', sa.String(length=32), nullable=True),
        sa.Column('weight_grams', sa.Integer(), nullable=False),
        sa.Column('webhook_secret', sa.Text(), nullable=True),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level IN ('province', 'district', 'commune')", name=op.f('ck_dossier_centre_level_known')),
        sa.CheckConstraint('weight_grams > 0', name=op.f('ck_dossier_centre_weight_positive')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_dossier_centre_centre_id_centre')),
        sa.PrimaryKeyConstraint('centre_id', name=op.f('pk_dossier_centre')),
    )


def downgrade() -> None:
    op.drop_table('dossier_centre')
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_centre_appointment')
        batch_op.drop_index(batch_op.f('ix_dossier_result_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_dossier_resolved_at'))
        batch_op.drop_index(batch_op.f('ix_dossier_status'))
        batch_op.drop_index(batch_op.f('ix_dossier_received_at'))
        batch_op.drop_index(batch_op.f('ix_dossier_unit_id'))
        batch_op.drop_index(batch_op.f('ix_dossier_procedure_code'))
        batch_op.drop_index(batch_op.f('ix_dossier_centre_id'))
    op.drop_table('dossier')
