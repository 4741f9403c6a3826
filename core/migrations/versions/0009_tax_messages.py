"""tax authority messages (TDiep) and their answers; receipts' tax status; series registration

receipt_series gets the state 'submitted' (its registration is with the tax authority). Its CHECK is changed
in place on PostgreSQL. SQLite cannot alter a CHECK, and rebuilding the table would drop it under the
receipts and counters that refer to it (with foreign keys on, that fails); SQLite's documented way for a
change that touches no stored row is used instead: the table's SQL is edited in the schema (writable_schema)
and schema_version bumped. Downgrade turns 'submitted' series back into drafts first.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_WHERE = "direction = 'out' AND kind = 'receipt'"
OLD_STATES = "'draft', 'registered', 'in_use', 'closed'"
NEW_STATES = "'draft', 'submitted', 'registered', 'in_use', 'closed'"


def upgrade() -> None:
    op.create_table('tax_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mtdiep', sa.String(length=64), nullable=False),
    sa.Column('mltdiep', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=4), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('mtdtchieu', sa.String(length=64), nullable=True),
    sa.Column('mst', sa.String(length=20), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('receipt_id', sa.Integer(), nullable=True),
    sa.Column('series_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("direction IN ('out', 'in')", name=op.f('ck_tax_message_direction_known')),
    sa.CheckConstraint("status IN ('queued', 'sending', 'acknowledged', 'accepted', 'rejected', 'refused', "
                       "'received', 'applied')", name=op.f('ck_tax_message_status_known')),
    sa.ForeignKeyConstraint(['unit_id'], ['collecting_unit.id'], name=op.f('fk_tax_message_unit_id_collecting_unit')),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipt.id'], name=op.f('fk_tax_message_receipt_id_receipt')),
    sa.ForeignKeyConstraint(['series_id'], ['receipt_series.id'], name=op.f('fk_tax_message_series_id_receipt_series')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_message')),
    sa.UniqueConstraint('mtdiep', name=op.f('uq_tax_message_mtdiep'))
    )
    op.create_index(op.f('ix_tax_message_mtdtchieu'), 'tax_message', ['mtdtchieu'], unique=False)
    op.create_index(op.f('ix_tax_message_unit_id'), 'tax_message', ['unit_id'], unique=False)
    op.create_index(op.f('ix_tax_message_receipt_id'), 'tax_message', ['receipt_id'], unique=False)
    op.create_index(op.f('ix_tax_message_series_id'), 'tax_message', ['series_id'], unique=False)
    op.create_index('ix_tax_message_direction_status', 'tax_message', ['direction', 'status'], unique=False)
    op.create_index('uq_tax_message_receipt_data', 'tax_message', ['receipt_id'], unique=True,
                    sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE))
    op.create_table('receipt_tax_state',
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'sent', 'accepted', 'rejected')", name=op.f('ck_receipt_tax_state_status_known')),
    sa.ForeignKeyConstraint(['message_id'], ['tax_message.id'], name=op.f('fk_receipt_tax_state_message_id_tax_message')),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipt.id'], name=op.f('fk_receipt_tax_state_receipt_id_receipt')),
    sa.PrimaryKeyConstraint('receipt_id', name=op.f('pk_receipt_tax_state'))
    )
    # A series waits in 'submitted' while its registration (01/ĐKTĐ-CTĐT) is with the tax authority.
    _series_states(OLD_STATES, NEW_STATES)


def _series_states(old: str, new: str) -> None:
    name = 'ck_receipt_series_state_known'
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f(name), 'receipt_series', type_='check')
        op.create_check_constraint(op.f(name), 'receipt_series', f"state IN ({new})")
        return
    # SQLite's documented way to change only a CHECK (https://www.sqlite.org/lang_altertable.html, "Making Other
    # Kinds Of Table Schema Changes"): edit the table's SQL in the schema and bump schema_version, no rows touched.
    bind = op.get_bind()
    version = bind.exec_driver_sql('PRAGMA schema_version').scalar()
    bind.exec_driver_sql('PRAGMA writable_schema = ON')
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'receipt_series'",
                         (f"state IN ({old})", f"state IN ({new})"))
    bind.exec_driver_sql(f'PRAGMA schema_version = {int(version) + 1}')
    bind.exec_driver_sql('PRAGMA writable_schema = OFF')


def downgrade() -> None:
    op.execute("UPDATE receipt_series SET state = 'draft' WHERE state = 'submitted'")
    _series_states(NEW_STATES, OLD_STATES)
    op.drop_table('receipt_tax_state')
    op.drop_index('uq_tax_message_receipt_data', table_name='tax_message')
    op.drop_index('ix_tax_message_direction_status', table_name='tax_message')
    op.drop_index(op.f('ix_tax_message_series_id'), table_name='tax_message')
    op.drop_index(op.f('ix_tax_message_receipt_id'), table_name='tax_message')
    op.drop_index(op.f('ix_tax_message_unit_id'), table_name='tax_message')
    op.drop_index(op.f('ix_tax_message_mtdtchieu'), table_name='tax_message')
    op.drop_table('tax_message')
