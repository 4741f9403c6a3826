"""postal: shipments, events, batches, pickups

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dispatch_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_dispatch_batch_centre_id_centre')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_batch')),
    sa.UniqueConstraint('code', name=op.f('uq_dispatch_batch_code'))
    )
    op.create_index(op.f('ix_dispatch_batch_centre_id'), 'dispatch_batch', ['centre_id'], unique=False)
    op.create_table('shipment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('dossier_code', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('carrier_status', sa.String(length=64), nullable=True),
    sa.Column('tracking_code', sa.String(length=64), nullable=True),
    sa.Column('recipient_name', sa.String(length=255), nullable=False),
    sa.Column('recipient_phone', sa.String(length=32), nullable=False),
    sa.Column('street', sa.String(length=255), nullable=False),
    sa.Column('ward_code', sa.String(length=8), nullable=False),
    sa.Column('ward_name', sa.String(length=128), nullable=False),
    sa.Column('province_code', sa.String(length=8), nullable=False),
    sa.Column('province_name', sa.String(length=128), nullable=False),
    sa.Column('weight_grams', sa.Integer(), nullable=False),
    sa.Column('cod_amount', sa.BigInteger(), nullable=False),
    sa.Column('cod_collected', sa.BigInteger(), nullable=True),
    sa.Column('fee', sa.BigInteger(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('promised_date', sa.Date(), nullable=True),
    sa.Column('rates', sa.JSON(), nullable=False),
    sa.Column('choice', sa.String(length=255), nullable=True),
    sa.Column('create_attempts', sa.Integer(), nullable=False),
    sa.Column('create_started_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('pickup_window', sa.String(length=128), nullable=True),
    sa.Column('label_pdf', sa.LargeBinary(), nullable=True),
    sa.Column('label_fetched_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('last_event_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('cod_amount >= 0', name=op.f('ck_shipment_cod_not_negative')),
    sa.CheckConstraint('weight_grams > 0', name=op.f('ck_shipment_weight_positive')),
    sa.CheckConstraint("direction IN ('outbound', 'inbound')", name=op.f('ck_shipment_direction_known')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_shipment_centre_id_centre')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_shipment_payment_id_payment')),
    sa.ForeignKeyConstraint(['batch_id'], ['dispatch_batch.id'], name=op.f('fk_shipment_batch_id_dispatch_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment')),
    sa.UniqueConstraint('code', name=op.f('uq_shipment_code'))
    )
    for column in ('centre_id', 'dossier_code', 'carrier', 'status', 'tracking_code', 'payment_id',
                   'promised_date', 'batch_id', 'created_at'):
        op.create_index(op.f(f'ix_shipment_{column}'), 'shipment', [column], unique=False)
    op.create_table('shipment_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('carrier_status', sa.String(length=64), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('occurred_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('dedup_key', sa.String(length=160), nullable=False),
    sa.Column('cod_collected', sa.BigInteger(), nullable=True),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipment.id'], name=op.f('fk_shipment_event_shipment_id_shipment'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_event')),
    sa.UniqueConstraint('shipment_id', 'dedup_key', name='uq_shipment_event_dedup')
    )
    op.create_index(op.f('ix_shipment_event_shipment_id'), 'shipment_event', ['shipment_id'], unique=False)
    op.create_table('carrier_cursor',
    sa.Column('carrier', sa.String(length=32), nullable=False),
    sa.Column('cursor', sa.String(length=64), nullable=False),
    sa.Column('polled_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('carrier', name=op.f('pk_carrier_cursor'))
    )


def downgrade() -> None:
    op.drop_table('carrier_cursor')
    op.drop_index(op.f('ix_shipment_event_shipment_id'), table_name='shipment_event')
    op.drop_table('shipment_event')
    for column in ('centre_id', 'dossier_code', 'carrier', 'status', 'tracking_code', 'payment_id',
                   'promised_date', 'batch_id', 'created_at'):
        op.drop_index(op.f(f'ix_shipment_{column}'), table_name='shipment')
    op.drop_table('shipment')
    op.drop_index(op.f('ix_dispatch_batch_centre_id'), table_name='dispatch_batch')
    op.drop_table('dispatch_batch')
