"""the business-day calendar (public holidays per year), late results and official apologies

calendar_day: the exceptions to the Monday–Friday week that the administrator keeps per year (a weekday
off: `holiday`; a weekend day worked in exchange for a swapped one: `workday`). Seeded with the days of
2025 and 2026 (Labour Code 2019 Art. 112, the compensatory days of Art. 112(3), and the swaps the
Government announced for public servants); later years are added with `hcc calendar` or the admin page.
The seed is copied here, not imported, so this revision stays what it was when dossiers.calendar moves on.

dossier_apology: the official apology and new appointment slips (Phiếu xin lỗi và hẹn lại ngày trả kết
quả) issued for a dossier, numbered per centre and year; the PDF is kept in the receipts storage, and
lookup_code is the unguessable part of the citizen's link to it.

Revision ID: 0016
Revises: 0015
"""
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

import core.db

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

SEED = [
    ('2025-01-01', 'holiday', 'Tết Dương lịch'),
    ('2025-01-27', 'holiday', 'Tết Âm lịch (28 tháng Chạp)'),
    ('2025-01-28', 'holiday', 'Tết Âm lịch (29 tháng Chạp)'),
    ('2025-01-29', 'holiday', 'Tết Âm lịch (mùng 1 Tết)'),
    ('2025-01-30', 'holiday', 'Tết Âm lịch (mùng 2 Tết)'),
    ('2025-01-31', 'holiday', 'Tết Âm lịch (mùng 3 Tết)'),
    ('2025-04-07', 'holiday', 'Giỗ Tổ Hùng Vương (10/3 âm lịch)'),
    ('2025-04-26', 'workday', 'Làm bù cho ngày nghỉ 02/5/2025'),
    ('2025-04-30', 'holiday', 'Ngày Chiến thắng (30/4)'),
    ('2025-05-01', 'holiday', 'Ngày Quốc tế lao động (1/5)'),
    ('2025-05-02', 'holiday', 'Hoán đổi ngày làm việc (làm bù thứ Bảy 26/4/2025)'),
    ('2025-09-01', 'holiday', 'Quốc khánh (ngày liền kề)'),
    ('2025-09-02', 'holiday', 'Quốc khánh (2/9)'),
    ('2026-01-01', 'holiday', 'Tết Dương lịch'),
    ('2026-02-16', 'holiday', 'Tết Âm lịch (29 tháng Chạp)'),
    ('2026-02-17', 'holiday', 'Tết Âm lịch (mùng 1 Tết)'),
    ('2026-02-18', 'holiday', 'Tết Âm lịch (mùng 2 Tết)'),
    ('2026-02-19', 'holiday', 'Tết Âm lịch (mùng 3 Tết)'),
    ('2026-02-20', 'holiday', 'Tết Âm lịch (mùng 4 Tết)'),
    ('2026-04-27', 'holiday', 'Nghỉ bù Giỗ Tổ Hùng Vương (10/3 âm lịch là Chủ nhật 26/4)'),
    ('2026-04-30', 'holiday', 'Ngày Chiến thắng (30/4)'),
    ('2026-05-01', 'holiday', 'Ngày Quốc tế lao động (1/5)'),
    ('2026-09-01', 'holiday', 'Quốc khánh (ngày liền kề)'),
    ('2026-09-02', 'holiday', 'Quốc khánh (2/9)'),
]


def upgrade() -> None:
    calendar_day = op.create_table(
        'calendar_day',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('holiday', 'workday')", name=op.f('ck_calendar_day_kind_known')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_day')),
        sa.UniqueConstraint('day', name=op.f('uq_calendar_day_day')),
    )
    now = datetime.now(UTC)
    op.bulk_insert(calendar_day, [{'day': date.fromisoformat(d), 'kind': k, 'name': n, 'created_at': now}
                                  for d, k, n in SEED])
    op.create_table(
        'dossier_apology',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('dossier_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.String(length=1000), nullable=False),
        sa.Column('previous_appointment_date', sa.Date(), nullable=False),
        sa.Column('new_appointment_date', sa.Date(), nullable=False),
        sa.Column('issued_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('issued_by', sa.String(length=255), nullable=False),
        sa.Column('storage_key', sa.String(length=255), nullable=True),
        sa.Column('lookup_code', sa.String(length=32), nullable=False),
        sa.CheckConstraint('new_appointment_date > previous_appointment_date',
                           name=op.f('ck_dossier_apology_new_date_later')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_dossier_apology_centre_id_centre')),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_dossier_apology_dossier_id_dossier'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_apology')),
        sa.UniqueConstraint('centre_id', 'year', 'seq', name='uq_dossier_apology_centre_year_seq'),
        sa.UniqueConstraint('lookup_code', name=op.f('uq_dossier_apology_lookup_code')),
    )
    op.create_index(op.f('ix_dossier_apology_centre_id'), 'dossier_apology', ['centre_id'], unique=False)
    op.create_index(op.f('ix_dossier_apology_dossier_id'), 'dossier_apology', ['dossier_id'], unique=False)
    op.create_index(op.f('ix_dossier_apology_issued_at'), 'dossier_apology', ['issued_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dossier_apology_issued_at'), table_name='dossier_apology')
    op.drop_index(op.f('ix_dossier_apology_dossier_id'), table_name='dossier_apology')
    op.drop_index(op.f('ix_dossier_apology_centre_id'), table_name='dossier_apology')
    op.drop_table('dossier_apology')
    op.drop_table('calendar_day')
