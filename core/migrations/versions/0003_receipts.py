"""receipts: e-receipts, numbering counters, stored files

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('receipt_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=16), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('last_number >= 0', name=op.f('ck_receipt_counter_last_number_not_negative')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_receipt_counter_centre_id_centre')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_counter')),
    sa.UniqueConstraint('centre_id', 'template', 'symbol', 'year', name='uq_receipt_counter_series')
    )
    op.create_table('receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('current_payment_id', sa.Integer(), nullable=True),
    sa.Column('template', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=16), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('number', sa.BigInteger(), nullable=False),
    sa.Column('number_width', sa.Integer(), nullable=False),
    sa.Column('lookup_code', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('channel_ref', sa.String(length=64), nullable=True),
    sa.Column('collected_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('fee_codes', sa.String(length=500), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('replaced_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('issued_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('storage_key', sa.String(length=255), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('signer_subject', sa.String(length=500), nullable=True),
    sa.Column('cancelled_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_receipt_amount_not_negative')),
    sa.CheckConstraint("status IN ('pending', 'issued', 'cancelled', 'replaced')", name=op.f('ck_receipt_status_known')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_receipt_centre_id_centre')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_receipt_payment_id_payment')),
    sa.ForeignKeyConstraint(['current_payment_id'], ['payment.id'], name=op.f('fk_receipt_current_payment_id_payment')),
    sa.ForeignKeyConstraint(['replaces_id'], ['receipt.id'], name=op.f('fk_receipt_replaces_id_receipt')),
    sa.ForeignKeyConstraint(['replaced_by_id'], ['receipt.id'], name=op.f('fk_receipt_replaced_by_id_receipt')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt')),
    sa.UniqueConstraint('centre_id', 'template', 'symbol', 'number', name='uq_receipt_series_number'),
    sa.UniqueConstraint('current_payment_id', name='uq_receipt_current_payment_id'),
    sa.UniqueConstraint('lookup_code', name=op.f('uq_receipt_lookup_code'))
    )
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.create_index('ix_receipt_centre_issued', ['centre_id', 'issued_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_centre_id'), ['centre_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipt_sha256'))
        batch_op.drop_index(batch_op.f('ix_receipt_channel'))
        batch_op.drop_index(batch_op.f('ix_receipt_status'))
        batch_op.drop_index(batch_op.f('ix_receipt_payment_id'))
        batch_op.drop_index(batch_op.f('ix_receipt_centre_id'))
        batch_op.drop_index('ix_receipt_centre_issued')
    op.drop_table('receipt')
    op.drop_table('receipt_counter')
