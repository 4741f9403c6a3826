"""gateway orders per payment attempt (vnp_TxnRef, MoMo orderId/requestId) and refund confirmation by query

gateway_attempt: one row per order opened at a gateway for a payment (each checkout its own order
reference, all mapped back to the payment). refund gains its kind (the payment's money, or a second
payment of the same fee through another order), the attempt it returns, and what is needed to confirm an
answer that did not say whether the refund went through (confirmation, unknown_since, last_answer,
request_seq).

Data: none is needed. Orders opened before this revision used the payment code as their reference; a
notification or query for them still finds the payment by that code, and gets its row when it arrives.

refund gets its columns by plain ALTER TABLE ADD COLUMN on SQLite (the foreign key inline, like 0007),
so no copy of the table is made.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gateway_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('gateway', sa.String(length=16), nullable=False),
        sa.Column('order_ref', sa.String(length=64), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('merchant_id', sa.String(length=64), nullable=True),
        sa.Column('create_date', sa.String(length=14), nullable=True),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=24), nullable=False),
        sa.Column('outcome_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('transaction_ref', sa.String(length=64), nullable=True),
        sa.Column('raw_status', sa.String(length=16), nullable=True),
        sa.CheckConstraint('amount >= 0', name=op.f('ck_gateway_attempt_amount_not_negative')),
        sa.CheckConstraint("outcome IN ('open', 'paid', 'failed', 'refused', 'paid_twice', 'paid_after_cancel', "
                           "'refunded')", name=op.f('ck_gateway_attempt_outcome_known')),
        sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_gateway_attempt_payment_id_payment'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_attempt')),
        sa.UniqueConstraint('gateway', 'order_ref', name='uq_gateway_attempt_gateway_order_ref'),
        sa.UniqueConstraint('payment_id', 'seq', name='uq_gateway_attempt_payment_seq'),
    )
    op.create_index(op.f('ix_gateway_attempt_payment_id'), 'gateway_attempt', ['payment_id'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("ALTER TABLE refund ADD COLUMN kind VARCHAR(16) DEFAULT 'payment' NOT NULL")
        op.execute('ALTER TABLE refund ADD COLUMN attempt_id INTEGER '
                   'CONSTRAINT fk_refund_attempt_id_gateway_attempt REFERENCES gateway_attempt (id)')
        op.execute('ALTER TABLE refund ADD COLUMN confirmation VARCHAR(16)')
        op.execute('ALTER TABLE refund ADD COLUMN unknown_since DATETIME')
        op.execute('ALTER TABLE refund ADD COLUMN last_answer VARCHAR(16)')
        op.execute("ALTER TABLE refund ADD COLUMN request_seq INTEGER DEFAULT '0' NOT NULL")
    else:
        op.add_column('refund', sa.Column('kind', sa.String(length=16), server_default='payment', nullable=False))
        op.add_column('refund', sa.Column('attempt_id', sa.Integer(), nullable=True))
        op.add_column('refund', sa.Column('confirmation', sa.String(length=16), nullable=True))
        op.add_column('refund', sa.Column('unknown_since', core.db.UTCDateTime(timezone=True), nullable=True))
        op.add_column('refund', sa.Column('last_answer', sa.String(length=16), nullable=True))
        op.add_column('refund', sa.Column('request_seq', sa.Integer(), server_default='0', nullable=False))
        op.create_foreign_key(op.f('fk_refund_attempt_id_gateway_attempt'), 'refund', 'gateway_attempt',
                              ['attempt_id'], ['id'])
    op.create_index(op.f('ix_refund_attempt_id'), 'refund', ['attempt_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_refund_attempt_id'), table_name='refund')
    with op.batch_alter_table('refund', schema=None) as batch_op:
        if op.get_bind().dialect.name != 'sqlite':
            batch_op.drop_constraint(op.f('fk_refund_attempt_id_gateway_attempt'), type_='foreignkey')
        for column in ('request_seq', 'last_answer', 'unknown_since', 'confirmation', 'attempt_id', 'kind'):
            batch_op.drop_column(column)
    op.drop_index(op.f('ix_gateway_attempt_payment_id'), table_name='gateway_attempt')
    op.drop_table('gateway_attempt')
