"""gateway settlement reports and carrier COD remittances reconciled net against bank credits

settlement_batch: one payout (a gateway's settlement day, a carrier's COD remittance) with its gross, fee and
net sums and the bank line that credited it. settlement_line: its transactions (gross, fee, postage, net),
each matched to a payment. fee_booking: the deductions booked per day, channel and kind.

Data: none is needed; statements imported before stay as they are.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'settlement_batch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('batch_ref', sa.String(length=64), nullable=False),
        sa.Column('settle_day', sa.Date(), nullable=False),
        sa.Column('expected_credit', sa.Date(), nullable=False),
        sa.Column('line_count', sa.Integer(), nullable=False),
        sa.Column('gross', sa.BigInteger(), nullable=False),
        sa.Column('fee', sa.BigInteger(), nullable=False),
        sa.Column('net', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('credit_line_id', sa.Integer(), nullable=True),
        sa.Column('credited_on', sa.Date(), nullable=True),
        sa.Column('credited_amount', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_settlement_batch_centre_id_centre')),
        sa.ForeignKeyConstraint(['import_id'], ['statement_import.id'],
                                name=op.f('fk_settlement_batch_import_id_statement_import')),
        sa.ForeignKeyConstraint(['credit_line_id'], ['statement_line.id'],
                                name=op.f('fk_settlement_batch_credit_line_id_statement_line')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_batch')),
        sa.UniqueConstraint('centre_id', 'provider', 'batch_ref', name='uq_settlement_batch_ref'),
    )
    with op.batch_alter_table('settlement_batch') as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_batch_centre_id'), ['centre_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_batch_import_id'), ['import_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_batch_settle_day'), ['settle_day'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_batch_status'), ['status'], unique=False)
    op.create_table(
        'settlement_line',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('txn_day', sa.Date(), nullable=False),
        sa.Column('reference', sa.String(length=128), nullable=False),
        sa.Column('order_ref', sa.String(length=128), nullable=True),
        sa.Column('gross', sa.BigInteger(), nullable=False),
        sa.Column('fee', sa.BigInteger(), nullable=False),
        sa.Column('postage', sa.BigInteger(), nullable=False),
        sa.Column('net', sa.BigInteger(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('raw', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['settlement_batch.id'],
                                name=op.f('fk_settlement_line_batch_id_settlement_batch')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_settlement_line_centre_id_centre')),
        sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_settlement_line_payment_id_payment')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_line')),
    )
    with op.batch_alter_table('settlement_line') as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_line_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_line_centre_id'), ['centre_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_line_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_line_txn_day'), ['txn_day'], unique=False)
        batch_op.create_index('ix_settlement_line_reference', ['reference'], unique=False)
    op.create_table(
        'fee_booking',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['settlement_batch.id'],
                                name=op.f('fk_fee_booking_batch_id_settlement_batch')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_fee_booking_centre_id_centre')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_booking')),
        sa.UniqueConstraint('batch_id', 'kind', name='uq_fee_booking_batch_kind'),
    )
    with op.batch_alter_table('fee_booking') as batch_op:
        batch_op.create_index(batch_op.f('ix_fee_booking_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fee_booking_centre_id'), ['centre_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fee_booking_day'), ['day'], unique=False)


def downgrade() -> None:
    op.drop_table('fee_booking')
    op.drop_table('settlement_line')
    op.drop_table('settlement_batch')
