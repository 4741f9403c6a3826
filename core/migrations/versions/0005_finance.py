"""finance: statement imports and lines, discrepancies, closed days

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('closed_day',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_closed_day_centre_id_centre')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closed_day')),
    sa.UniqueConstraint('centre_id', 'day', name='uq_closed_day_centre_day')
    )
    op.create_table('statement_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('imported_by', sa.String(length=64), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('matched_count', sa.Integer(), nullable=False),
    sa.Column('discrepancy_count', sa.Integer(), nullable=False),
    sa.Column('total_amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_statement_import_centre_id_centre')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statement_import')),
    sa.UniqueConstraint('centre_id', 'sha256', name='uq_statement_import_centre_sha')
    )
    op.create_index(op.f('ix_statement_import_centre_id'), 'statement_import', ['centre_id'], unique=False)
    op.create_table('statement_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=False),
    sa.Column('order_ref', sa.String(length=128), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('match_rule', sa.String(length=32), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_statement_line_centre_id_centre')),
    sa.ForeignKeyConstraint(['import_id'], ['statement_import.id'], name=op.f('fk_statement_line_import_id_statement_import')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_statement_line_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statement_line'))
    )
    op.create_index(op.f('ix_statement_line_centre_id'), 'statement_line', ['centre_id'], unique=False)
    op.create_index(op.f('ix_statement_line_import_id'), 'statement_line', ['import_id'], unique=False)
    op.create_index(op.f('ix_statement_line_payment_id'), 'statement_line', ['payment_id'], unique=False)
    op.create_index('ix_statement_line_reference', 'statement_line', ['reference'], unique=False)
    op.create_index(op.f('ix_statement_line_value_date'), 'statement_line', ['value_date'], unique=False)
    op.create_table('discrepancy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('type', sa.String(length=24), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('expected_amount', sa.BigInteger(), nullable=True),
    sa.Column('actual_amount', sa.BigInteger(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_discrepancy_centre_id_centre')),
    sa.ForeignKeyConstraint(['import_id'], ['statement_import.id'], name=op.f('fk_discrepancy_import_id_statement_import')),
    sa.ForeignKeyConstraint(['line_id'], ['statement_line.id'], name=op.f('fk_discrepancy_line_id_statement_line')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_discrepancy_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discrepancy'))
    )
    op.create_index(op.f('ix_discrepancy_centre_id'), 'discrepancy', ['centre_id'], unique=False)
    op.create_index(op.f('ix_discrepancy_day'), 'discrepancy', ['day'], unique=False)
    op.create_index(op.f('ix_discrepancy_line_id'), 'discrepancy', ['line_id'], unique=False)
    op.create_index(op.f('ix_discrepancy_payment_id'), 'discrepancy', ['payment_id'], unique=False)
    op.create_index(op.f('ix_discrepancy_status'), 'discrepancy', ['status'], unique=False)
    op.create_index(op.f('ix_discrepancy_type'), 'discrepancy', ['type'], unique=False)


def downgrade() -> None:
    op.drop_table('discrepancy')
    op.drop_table('statement_line')
    op.drop_table('statement_import')
    op.drop_table('closed_day')
