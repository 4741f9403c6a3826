"""search: a folded search column on payment, receipt and shipment

Each table gets `search_text` (core.search): its codes, the payer's or recipient's name and phone and
the dossier code, folded (lower-case, no diacritics, đ→d), kept on every write by the models and
indexed. On PostgreSQL a trigram index (pg_trgm) serves LIKE '%word%' too, where the extension can be
created; without it the plain index remains.

Data: existing rows are backfilled here, in batches, with the same folding the models use.

Revision ID: 0019
Revises: 0018
"""
import json

import sqlalchemy as sa
from alembic import op

from core import search

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

TABLES = ("payment", "receipt", "shipment")
BATCH = 1000


def _payment(row) -> str:
    return search.folded((row.code, row.dossier_code, row.payer_name, row.payer_phone,
                          search.digits(row.payer_phone)))


def _receipt(row) -> str:
    content = row.content
    if isinstance(content, str):
        content = json.loads(content or "{}")
    content = content or {}
    number = str(row.number).zfill(row.number_width or 7) if row.number is not None else None
    return search.folded((number, row.number, row.symbol, row.lookup_code, content.get("payment_code"),
                          content.get("dossier_code"), (content.get("payer") or {}).get("name")))


def _shipment(row) -> str:
    return search.folded((row.code, row.tracking_code, row.dossier_code, row.recipient_name, row.recipient_phone,
                          search.digits(row.recipient_phone)))


QUERIES = {
    "payment": ("SELECT id, code, dossier_code, payer_name, payer_phone FROM payment", _payment),
    "receipt": ("SELECT id, number, number_width, symbol, lookup_code, content FROM receipt", _receipt),
    "shipment": ("SELECT id, code, tracking_code, dossier_code, recipient_name, recipient_phone FROM shipment",
                 _shipment),
}


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('search_text', sa.String(length=search.SEARCH_LENGTH), nullable=False,
                                          server_default=''))
            batch_op.create_index(batch_op.f(f'ix_{table}_search_text'), ['search_text'], unique=False)
    bind = op.get_bind()
    for table, (query, fn) in QUERIES.items():
        last = 0
        while True:
            rows = bind.execute(sa.text(f"{query} WHERE id > :last ORDER BY id LIMIT {BATCH}"),
                                {"last": last}).fetchall()
            if not rows:
                break
            # table: one of the three names above, never outside text.
            bind.execute(sa.text(f"UPDATE {table} SET search_text = :t WHERE id = :id"),  # noqa: S608
                         [{"t": fn(r), "id": r.id} for r in rows])
            last = rows[-1].id
    if bind.dialect.name == "postgresql":
        nested = bind.begin_nested()
        try:
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            nested.commit()
        except sa.exc.DBAPIError:
            nested.rollback()
            return
        for table in TABLES:
            op.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_search_trgm ON {table} "
                       "USING gin (search_text gin_trgm_ops)")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_search_trgm")
        op.drop_index(op.f(f'ix_{table}_search_text'), table_name=table)
        # A plain DROP COLUMN (SQLite 3.35+ has it), not a batch copy: dropping the old copy of a table
        # other tables refer to (receipt, payment) fails under SQLite's foreign keys.
        op.drop_column(table, 'search_text')
