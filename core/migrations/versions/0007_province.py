"""province: collecting units, the centres serving them, receipt series, encrypted credentials, carrier
accounts, principal centres; fee_type gets its unit, online amount and retained share

Data: every existing centre becomes a centre plus a collecting unit with the same code, name, tax code,
address, phone and e-mail, served at that centre; its fee_type rows get that unit; each series it has
numbered (distinct template/symbol in receipt_counter) becomes a receipt_series in state 'in_use', with
registered_on the Vietnamese day of its first receipt (NULL when it has none); the series the centre is
configured to number this year (receipt_template, receipt_symbol + the year's two digits), if not among
them, becomes a 'registered' series with registered_on NULL. The counter rows stay as they are, so
numbering continues where it was.

fee_type changes by ALTER TABLE ADD COLUMN on SQLite too (not a batch copy): payment_item refers to
fee_type, and SQLite cannot drop a referenced table inside the migration's transaction.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

import core.db
from core.clock import local_day, utcnow

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('collecting_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('tax_code', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('bank_bin', sa.String(length=8), nullable=True),
    sa.Column('bank_account_number', sa.String(length=32), nullable=True),
    sa.Column('bank_account_name', sa.String(length=255), nullable=True),
    sa.Column('signing_kind', sa.String(length=8), nullable=True),
    sa.Column('pkcs11_module', sa.String(length=500), nullable=True),
    sa.Column('pkcs11_slot', sa.Integer(), nullable=True),
    sa.Column('pkcs11_token_label', sa.String(length=255), nullable=True),
    sa.Column('pkcs11_key_label', sa.String(length=255), nullable=True),
    sa.Column('pkcs11_cert_label', sa.String(length=255), nullable=True),
    sa.Column('cert_subject', sa.String(length=500), nullable=True),
    sa.Column('cert_not_after', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('gateway', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("signing_kind IS NULL OR signing_kind IN ('pkcs12', 'pkcs11')", name=op.f('ck_collecting_unit_signing_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collecting_unit')),
    sa.UniqueConstraint('code', name=op.f('uq_collecting_unit_code'))
    )
    op.create_table('centre_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_centre_unit_centre_id_centre')),
    sa.ForeignKeyConstraint(['unit_id'], ['collecting_unit.id'], name=op.f('fk_centre_unit_unit_id_collecting_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_centre_unit')),
    sa.UniqueConstraint('centre_id', 'unit_id', name='uq_centre_unit_pair')
    )
    op.create_index(op.f('ix_centre_unit_centre_id'), 'centre_unit', ['centre_id'], unique=False)
    op.create_index(op.f('ix_centre_unit_unit_id'), 'centre_unit', ['unit_id'], unique=False)
    op.create_table('receipt_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=16), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('number_width', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('registered_on', sa.Date(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('draft', 'registered', 'in_use', 'closed')", name=op.f('ck_receipt_series_state_known')),
    sa.CheckConstraint('number_width BETWEEN 1 AND 12', name=op.f('ck_receipt_series_number_width_range')),
    sa.ForeignKeyConstraint(['unit_id'], ['collecting_unit.id'], name=op.f('fk_receipt_series_unit_id_collecting_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_series')),
    sa.UniqueConstraint('unit_id', 'template', 'symbol', name='uq_receipt_series_unit_template_symbol')
    )
    op.create_index('ix_receipt_series_unit_year', 'receipt_series', ['unit_id', 'year'], unique=False)
    op.create_table('credential',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_type', sa.String(length=24), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('ciphertext', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("owner_type IN ('unit', 'centre', 'deployment', 'carrier_account')", name=op.f('ck_credential_owner_type_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credential')),
    sa.UniqueConstraint('owner_type', 'owner_id', 'name', name='uq_credential_owner_name')
    )
    op.create_table('carrier_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('carrier', sa.String(length=16), nullable=False),
    sa.Column('customer_code', sa.String(length=64), nullable=True),
    sa.Column('contract_number', sa.String(length=64), nullable=True),
    sa.Column('pickup_address', sa.String(length=500), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("carrier IN ('vnpost', 'viettelpost', 'ghn')", name=op.f('ck_carrier_account_carrier_known')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_carrier_account_centre_id_centre')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carrier_account')),
    sa.UniqueConstraint('centre_id', 'carrier', name='uq_carrier_account_centre_carrier')
    )
    op.create_index(op.f('ix_carrier_account_centre_id'), 'carrier_account', ['centre_id'], unique=False)
    op.create_table('principal_centre',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('principal_type', sa.String(length=16), nullable=False),
    sa.Column('principal_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("principal_type IN ('user', 'api_client')", name=op.f('ck_principal_centre_principal_type_known')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_principal_centre_centre_id_centre')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_principal_centre')),
    sa.UniqueConstraint('principal_type', 'principal_id', 'centre_id', name='uq_principal_centre_row')
    )
    op.create_index('ix_principal_centre_principal', 'principal_centre', ['principal_type', 'principal_id'], unique=False)

    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE fee_type ADD COLUMN unit_id INTEGER '
                   'CONSTRAINT fk_fee_type_unit_id_collecting_unit REFERENCES collecting_unit (id)')
        op.execute('ALTER TABLE fee_type ADD COLUMN online_amount BIGINT CONSTRAINT ck_fee_type_online_amount_not_negative '
                   'CHECK (online_amount IS NULL OR online_amount >= 0)')
        op.execute('ALTER TABLE fee_type ADD COLUMN retained_percent INTEGER CONSTRAINT ck_fee_type_retained_percent_range '
                   'CHECK (retained_percent IS NULL OR (retained_percent >= 0 AND retained_percent <= 100))')
    else:
        op.add_column('fee_type', sa.Column('unit_id', sa.Integer(), nullable=True))
        op.add_column('fee_type', sa.Column('online_amount', sa.BigInteger(), nullable=True))
        op.add_column('fee_type', sa.Column('retained_percent', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_fee_type_unit_id_collecting_unit'), 'fee_type', 'collecting_unit',
                              ['unit_id'], ['id'])
        op.create_check_constraint(op.f('ck_fee_type_online_amount_not_negative'), 'fee_type',
                                   'online_amount IS NULL OR online_amount >= 0')
        op.create_check_constraint(op.f('ck_fee_type_retained_percent_range'), 'fee_type',
                                   'retained_percent IS NULL OR (retained_percent >= 0 AND retained_percent <= 100)')
    op.create_index(op.f('ix_fee_type_unit_id'), 'fee_type', ['unit_id'], unique=False)
    op.create_index('uq_fee_type_unit_code_from', 'fee_type', ['unit_id', 'code', 'effective_from'], unique=True)

    _centres_become_units()


def _centres_become_units() -> None:
    bind = op.get_bind()
    centre = sa.table('centre', sa.column('id', sa.Integer), sa.column('code', sa.String), sa.column('name', sa.String),
                      sa.column('tax_code', sa.String), sa.column('address', sa.String), sa.column('phone', sa.String),
                      sa.column('email', sa.String), sa.column('receipt_template', sa.String),
                      sa.column('receipt_symbol', sa.String), sa.column('receipt_number_width', sa.Integer))
    unit = sa.table('collecting_unit', sa.column('id', sa.Integer), sa.column('code', sa.String),
                    sa.column('name', sa.String), sa.column('tax_code', sa.String), sa.column('address', sa.String),
                    sa.column('phone', sa.String), sa.column('email', sa.String), sa.column('gateway', sa.JSON),
                    sa.column('active', sa.Boolean), sa.column('created_at', core.db.UTCDateTime()),
                    sa.column('updated_at', core.db.UTCDateTime()))
    link = sa.table('centre_unit', sa.column('centre_id', sa.Integer), sa.column('unit_id', sa.Integer),
                    sa.column('created_at', core.db.UTCDateTime()))
    fee = sa.table('fee_type', sa.column('centre_id', sa.Integer), sa.column('unit_id', sa.Integer))
    counter = sa.table('receipt_counter', sa.column('centre_id', sa.Integer), sa.column('template', sa.String),
                       sa.column('symbol', sa.String), sa.column('year', sa.Integer))
    receipt = sa.table('receipt', sa.column('centre_id', sa.Integer), sa.column('template', sa.String),
                       sa.column('symbol', sa.String), sa.column('created_at', core.db.UTCDateTime()))
    series = sa.table('receipt_series', sa.column('unit_id', sa.Integer), sa.column('template', sa.String),
                      sa.column('symbol', sa.String), sa.column('year', sa.Integer),
                      sa.column('number_width', sa.Integer), sa.column('state', sa.String),
                      sa.column('registered_on', sa.Date), sa.column('created_at', core.db.UTCDateTime()))
    now = utcnow()
    for c in bind.execute(sa.select(centre).order_by(centre.c.id)).mappings().all():
        unit_id = bind.execute(unit.insert().values(
            code=c['code'], name=c['name'], tax_code=c['tax_code'], address=c['address'], phone=c['phone'],
            email=c['email'], gateway={}, active=True, created_at=now, updated_at=now,
        ).returning(unit.c.id)).scalar_one()
        bind.execute(link.insert().values(centre_id=c['id'], unit_id=unit_id, created_at=now))
        bind.execute(fee.update().where(fee.c.centre_id == c['id']).values(unit_id=unit_id))
        numbered = bind.execute(
            sa.select(counter.c.template, counter.c.symbol, sa.func.min(counter.c.year))
            .where(counter.c.centre_id == c['id']).group_by(counter.c.template, counter.c.symbol)
            .order_by(counter.c.template, counter.c.symbol)).all()
        for template, symbol, year in numbered:
            first = bind.execute(sa.select(receipt.c.created_at).where(
                receipt.c.centre_id == c['id'], receipt.c.template == template, receipt.c.symbol == symbol)
                .order_by(receipt.c.created_at).limit(1)).scalar()
            bind.execute(series.insert().values(
                unit_id=unit_id, template=template, symbol=symbol, year=year,
                number_width=c['receipt_number_width'] or 7, state='in_use',
                registered_on=local_day(first) if first is not None else None, created_at=now))
        # The series the centre is configured to number this year, if it has not numbered it yet (a new
        # year, a fresh install): registered, so issuance goes on as before the upgrade.
        year = local_day(now).year
        template, symbol = c['receipt_template'], f"{c['receipt_symbol']}{year % 100:02d}"
        if template and (template, symbol) not in {(t, s) for t, s, _y in numbered}:
            bind.execute(series.insert().values(
                unit_id=unit_id, template=template, symbol=symbol, year=year,
                number_width=c['receipt_number_width'] or 7, state='registered', registered_on=None, created_at=now))


def downgrade() -> None:
    op.drop_index('uq_fee_type_unit_code_from', table_name='fee_type')
    op.drop_index(op.f('ix_fee_type_unit_id'), table_name='fee_type')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite (3.35+) drops a column together with its own REFERENCES and CHECK clauses.
        for column in ('retained_percent', 'online_amount', 'unit_id'):
            op.execute(f'ALTER TABLE fee_type DROP COLUMN {column}')
    else:
        op.drop_constraint(op.f('ck_fee_type_retained_percent_range'), 'fee_type', type_='check')
        op.drop_constraint(op.f('ck_fee_type_online_amount_not_negative'), 'fee_type', type_='check')
        op.drop_constraint(op.f('fk_fee_type_unit_id_collecting_unit'), 'fee_type', type_='foreignkey')
        op.drop_column('fee_type', 'retained_percent')
        op.drop_column('fee_type', 'online_amount')
        op.drop_column('fee_type', 'unit_id')
    op.drop_index('ix_principal_centre_principal', table_name='principal_centre')
    op.drop_table('principal_centre')
    op.drop_index(op.f('ix_carrier_account_centre_id'), table_name='carrier_account')
    op.drop_table('carrier_account')
    op.drop_table('credential')
    op.drop_index('ix_receipt_series_unit_year', table_name='receipt_series')
    op.drop_table('receipt_series')
    op.drop_index(op.f('ix_centre_unit_unit_id'), table_name='centre_unit')
    op.drop_index(op.f('ix_centre_unit_centre_id'), table_name='centre_unit')
    op.drop_table('centre_unit')
    op.drop_table('collecting_unit')
