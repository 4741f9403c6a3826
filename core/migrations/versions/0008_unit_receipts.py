"""unit receipts: a receipt belongs to a collecting unit and its series; one current receipt per payment and unit;
counters keyed by series; payment items carry their unit

Data: each receipt gets the unit 0007 made of its centre (same code) and the series of that unit with
its template and symbol; each counter likewise, so numbering continues where it was. Each payment item
gets its fee type's unit, or (a line given outright) the unit of its payment's centre.

payment_item gets its column by plain ALTER TABLE ADD COLUMN on SQLite (it is referenced by nothing, but
a copy is not needed either). receipt is rebuilt by hand on SQLite, not by a batch copy: it refers to
itself (replaces_id, replaced_by_id), so with foreign keys on, dropping the old table under a copy that
refers to "receipt" fails. Instead the old table is renamed away (its self-references follow it), the new
one created under the real name, rows copied with foreign key checks deferred to commit, the old dropped.
receipt_counter is referenced by nothing: a batch copy is fine.

Downgrade: the old per-centre uniqueness comes back; it fails if two units at one centre used the same
template and symbol (their numbers would collide), which is the point of this revision.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _receipt_columns(with_units: bool) -> list:
    cols = [
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
    ]
    if with_units:
        cols += [sa.Column('unit_id', sa.Integer(), nullable=True), sa.Column('series_id', sa.Integer(), nullable=True)]
    return cols


def _receipt_constraints(with_units: bool) -> list:
    out = [
        sa.CheckConstraint('amount >= 0', name=op.f('ck_receipt_amount_not_negative')),
        sa.CheckConstraint("status IN ('pending', 'issued', 'cancelled', 'replaced')", name=op.f('ck_receipt_status_known')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_receipt_centre_id_centre')),
        sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_receipt_payment_id_payment')),
        sa.ForeignKeyConstraint(['current_payment_id'], ['payment.id'], name=op.f('fk_receipt_current_payment_id_payment')),
        sa.ForeignKeyConstraint(['replaces_id'], ['receipt.id'], name=op.f('fk_receipt_replaces_id_receipt')),
        sa.ForeignKeyConstraint(['replaced_by_id'], ['receipt.id'], name=op.f('fk_receipt_replaced_by_id_receipt')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt')),
        sa.UniqueConstraint('lookup_code', name=op.f('uq_receipt_lookup_code')),
    ]
    if with_units:
        out += [
            sa.ForeignKeyConstraint(['unit_id'], ['collecting_unit.id'], name=op.f('fk_receipt_unit_id_collecting_unit')),
            sa.ForeignKeyConstraint(['series_id'], ['receipt_series.id'], name=op.f('fk_receipt_series_id_receipt_series')),
            sa.UniqueConstraint('series_id', 'number', name='uq_receipt_series_id_number'),
            sa.UniqueConstraint('current_payment_id', 'unit_id', name='uq_receipt_current_payment_unit'),
        ]
    else:
        out += [
            sa.UniqueConstraint('centre_id', 'template', 'symbol', 'number', name='uq_receipt_series_number'),
            sa.UniqueConstraint('current_payment_id', name='uq_receipt_current_payment_id'),
        ]
    return out


RECEIPT_INDEXES = [('ix_receipt_centre_issued', ['centre_id', 'issued_at']), ('ix_receipt_centre_id', ['centre_id']),
                   ('ix_receipt_payment_id', ['payment_id']), ('ix_receipt_status', ['status']),
                   ('ix_receipt_channel', ['channel']), ('ix_receipt_sha256', ['sha256'])]


def _rebuild_receipt_sqlite(with_units: bool) -> None:
    """The SQLite table rebuild (see the module docstring for why not a batch copy)."""
    op.execute('PRAGMA defer_foreign_keys = ON')  # reset by SQLite at commit, where the checks then run
    op.execute('ALTER TABLE receipt RENAME TO receipt_old')
    op.create_table('receipt', *_receipt_columns(with_units), *_receipt_constraints(with_units))
    names = ', '.join(c.name for c in _receipt_columns(False))
    # The names are this file's own column list, not input.
    op.execute(f'INSERT INTO receipt ({names}) SELECT {names} FROM receipt_old ORDER BY id')  # noqa: S608
    op.execute('DROP TABLE receipt_old')  # its indexes go with it
    for name, cols in RECEIPT_INDEXES:
        op.create_index(name, 'receipt', cols, unique=False)
    if with_units:
        op.create_index('ix_receipt_unit_id', 'receipt', ['unit_id'], unique=False)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute('ALTER TABLE payment_item ADD COLUMN unit_id INTEGER '
                   'CONSTRAINT fk_payment_item_unit_id_collecting_unit REFERENCES collecting_unit (id)')
        _rebuild_receipt_sqlite(with_units=True)
    else:
        op.add_column('payment_item', sa.Column('unit_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_payment_item_unit_id_collecting_unit'), 'payment_item', 'collecting_unit',
                              ['unit_id'], ['id'])
        op.add_column('receipt', sa.Column('unit_id', sa.Integer(), nullable=True))
        op.add_column('receipt', sa.Column('series_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_receipt_unit_id_collecting_unit'), 'receipt', 'collecting_unit',
                              ['unit_id'], ['id'])
        op.create_foreign_key(op.f('fk_receipt_series_id_receipt_series'), 'receipt', 'receipt_series',
                              ['series_id'], ['id'])
        op.drop_constraint('uq_receipt_series_number', 'receipt', type_='unique')
        op.drop_constraint('uq_receipt_current_payment_id', 'receipt', type_='unique')
        op.create_unique_constraint('uq_receipt_series_id_number', 'receipt', ['series_id', 'number'])
        op.create_unique_constraint('uq_receipt_current_payment_unit', 'receipt', ['current_payment_id', 'unit_id'])
        op.create_index('ix_receipt_unit_id', 'receipt', ['unit_id'], unique=False)
    op.create_index(op.f('ix_payment_item_unit_id'), 'payment_item', ['unit_id'], unique=False)
    with op.batch_alter_table('receipt_counter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('series_id', sa.Integer(), nullable=True))
        batch_op.alter_column('centre_id', existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint('uq_receipt_counter_series', type_='unique')
        batch_op.create_unique_constraint('uq_receipt_counter_series_id', ['series_id'])
        batch_op.create_foreign_key(batch_op.f('fk_receipt_counter_series_id_receipt_series'), 'receipt_series',
                                    ['series_id'], ['id'])
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    centre = sa.table('centre', sa.column('id', sa.Integer), sa.column('code', sa.String))
    unit = sa.table('collecting_unit', sa.column('id', sa.Integer), sa.column('code', sa.String))
    series = sa.table('receipt_series', sa.column('id', sa.Integer), sa.column('unit_id', sa.Integer),
                      sa.column('template', sa.String), sa.column('symbol', sa.String))
    receipt = sa.table('receipt', sa.column('centre_id', sa.Integer), sa.column('template', sa.String),
                       sa.column('symbol', sa.String), sa.column('unit_id', sa.Integer),
                       sa.column('series_id', sa.Integer))
    counter = sa.table('receipt_counter', sa.column('centre_id', sa.Integer), sa.column('template', sa.String),
                       sa.column('symbol', sa.String), sa.column('series_id', sa.Integer))
    payment = sa.table('payment', sa.column('id', sa.Integer), sa.column('centre_id', sa.Integer))
    item = sa.table('payment_item', sa.column('payment_id', sa.Integer), sa.column('fee_type_id', sa.Integer),
                    sa.column('unit_id', sa.Integer))
    fee = sa.table('fee_type', sa.column('id', sa.Integer), sa.column('unit_id', sa.Integer))

    # The unit 0007 made of each centre carries the centre's code.
    unit_of_centre = dict(bind.execute(sa.select(centre.c.id, unit.c.id).join(unit, unit.c.code == centre.c.code)).all())
    series_ids = {(u, t, s): i for i, u, t, s in bind.execute(
        sa.select(series.c.id, series.c.unit_id, series.c.template, series.c.symbol)).all()}
    for table in (receipt, counter):
        rows = bind.execute(sa.select(table.c.centre_id, table.c.template, table.c.symbol).distinct()).all()
        for centre_id, template, symbol in rows:
            unit_id = unit_of_centre.get(centre_id)
            if unit_id is None:
                continue
            values = {'series_id': series_ids.get((unit_id, template, symbol))}
            if table is receipt:
                values['unit_id'] = unit_id
            bind.execute(table.update().where(table.c.centre_id == centre_id, table.c.template == template,
                                              table.c.symbol == symbol).values(**values))
    bind.execute(item.update().where(item.c.fee_type_id.is_not(None)).values(
        unit_id=sa.select(fee.c.unit_id).where(fee.c.id == item.c.fee_type_id).scalar_subquery()))
    for centre_id, unit_id in unit_of_centre.items():
        payments = sa.select(payment.c.id).where(payment.c.centre_id == centre_id)
        bind.execute(item.update().where(item.c.unit_id.is_(None), item.c.payment_id.in_(payments))
                     .values(unit_id=unit_id))


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    # A counter opened after the upgrade belongs to a series, not a centre: give it a centre serving its unit.
    bind.execute(sa.text(
        'UPDATE receipt_counter SET centre_id = (SELECT MIN(cu.centre_id) FROM centre_unit cu '
        'JOIN receipt_series s ON s.unit_id = cu.unit_id WHERE s.id = receipt_counter.series_id) '
        'WHERE centre_id IS NULL'))
    with op.batch_alter_table('receipt_counter', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_receipt_counter_series_id_receipt_series'), type_='foreignkey')
        batch_op.drop_constraint('uq_receipt_counter_series_id', type_='unique')
        batch_op.create_unique_constraint('uq_receipt_counter_series', ['centre_id', 'template', 'symbol', 'year'])
        batch_op.alter_column('centre_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('series_id')
    op.drop_index(op.f('ix_payment_item_unit_id'), table_name='payment_item')
    if sqlite:
        _rebuild_receipt_sqlite(with_units=False)
        op.execute('ALTER TABLE payment_item DROP COLUMN unit_id')
    else:
        op.drop_index('ix_receipt_unit_id', table_name='receipt')
        op.drop_constraint('uq_receipt_current_payment_unit', 'receipt', type_='unique')
        op.drop_constraint('uq_receipt_series_id_number', 'receipt', type_='unique')
        op.create_unique_constraint('uq_receipt_current_payment_id', 'receipt', ['current_payment_id'])
        op.create_unique_constraint('uq_receipt_series_number', 'receipt', ['centre_id', 'template', 'symbol', 'number'])
        op.drop_constraint(op.f('fk_receipt_series_id_receipt_series'), 'receipt', type_='foreignkey')
        op.drop_constraint(op.f('fk_receipt_unit_id_collecting_unit'), 'receipt', type_='foreignkey')
        op.drop_column('receipt', 'series_id')
        op.drop_column('receipt', 'unit_id')
        op.drop_constraint(op.f('fk_payment_item_unit_id_collecting_unit'), 'payment_item', type_='foreignkey')
        op.drop_column('payment_item', 'unit_id')
