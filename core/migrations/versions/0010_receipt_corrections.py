"""error notices 04/SS-CTĐT, refund documents linked to receipts, BC26 reports

- receipt gets `correction` ("replace" / "adjust": how it corrects the receipt in `replaces_id`) and
  `delta` (an adjusting receipt's signed difference), by plain ADD COLUMN (no copy of the table, which
  refers to itself; see 0008).
- receipt_correction: a receipt made in error, what was done (cancel, replace, adjust), and the state of
  its 04/SS-CTĐT notice to the tax authority.
- receipt_refund: a refund document linked to a receipt that stays valid (decision and payout).

BC26/BLĐT reports are computed from the receipt register and sent as tax messages; they need no table.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('receipt', sa.Column('correction', sa.String(length=8), nullable=True))
    op.add_column('receipt', sa.Column('delta', sa.BigInteger(), nullable=True))
    op.create_table(
        'receipt_correction',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('receipt_id', sa.Integer(), nullable=False),
        sa.Column('new_receipt_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('notice_status', sa.String(length=16), nullable=False),
        sa.Column('notice_message_id', sa.String(length=64), nullable=True),
        sa.Column('notice_xml', sa.Text(), nullable=True),
        sa.Column('notice_reasons', sa.JSON(), nullable=False),
        sa.Column('notice_sent_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('notice_answered_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('cancel', 'replace', 'adjust')", name=op.f('ck_receipt_correction_kind_known')),
        sa.CheckConstraint("notice_status IN ('pending', 'sent', 'accepted', 'rejected', 'failed')",
                           name=op.f('ck_receipt_correction_notice_status_known')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_receipt_correction_centre_id_centre')),
        sa.ForeignKeyConstraint(['receipt_id'], ['receipt.id'], name=op.f('fk_receipt_correction_receipt_id_receipt')),
        sa.ForeignKeyConstraint(['new_receipt_id'], ['receipt.id'],
                                name=op.f('fk_receipt_correction_new_receipt_id_receipt')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_correction')),
    )
    op.create_index(op.f('ix_receipt_correction_centre_id'), 'receipt_correction', ['centre_id'])
    op.create_index(op.f('ix_receipt_correction_receipt_id'), 'receipt_correction', ['receipt_id'])
    op.create_index(op.f('ix_receipt_correction_notice_status'), 'receipt_correction', ['notice_status'])
    op.create_table(
        'receipt_refund',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('receipt_id', sa.Integer(), nullable=False),
        sa.Column('refund_id', sa.Integer(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=False),
        sa.Column('approved_by', sa.String(length=64), nullable=True),
        sa.Column('decided_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('reference', sa.String(length=40), nullable=False),
        sa.Column('gateway_ref', sa.String(length=64), nullable=True),
        sa.Column('paid_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount > 0', name=op.f('ck_receipt_refund_amount_positive')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_receipt_refund_centre_id_centre')),
        sa.ForeignKeyConstraint(['receipt_id'], ['receipt.id'], name=op.f('fk_receipt_refund_receipt_id_receipt')),
        sa.ForeignKeyConstraint(['refund_id'], ['refund.id'], name=op.f('fk_receipt_refund_refund_id_refund')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_refund')),
        sa.UniqueConstraint('receipt_id', 'refund_id', name='uq_receipt_refund_receipt_refund'),
    )
    op.create_index(op.f('ix_receipt_refund_centre_id'), 'receipt_refund', ['centre_id'])
    op.create_index(op.f('ix_receipt_refund_receipt_id'), 'receipt_refund', ['receipt_id'])
    op.create_index(op.f('ix_receipt_refund_refund_id'), 'receipt_refund', ['refund_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_receipt_refund_refund_id'), table_name='receipt_refund')
    op.drop_index(op.f('ix_receipt_refund_receipt_id'), table_name='receipt_refund')
    op.drop_index(op.f('ix_receipt_refund_centre_id'), table_name='receipt_refund')
    op.drop_table('receipt_refund')
    op.drop_index(op.f('ix_receipt_correction_notice_status'), table_name='receipt_correction')
    op.drop_index(op.f('ix_receipt_correction_receipt_id'), table_name='receipt_correction')
    op.drop_index(op.f('ix_receipt_correction_centre_id'), table_name='receipt_correction')
    op.drop_table('receipt_correction')
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+): a batch copy of receipt would fail on its self-references.
    op.drop_column('receipt', 'delta')
    op.drop_column('receipt', 'correction')
