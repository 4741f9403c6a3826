"""citizen notifications through Zalo ZNS and SMS brand name: templates, deliveries, opt-outs

message_template: a centre's own wording of an event's text (and its own ZNS template id).
message_opt_out: phones (84… form) that asked for no more messages.
citizen_delivery: one row per citizen message (an outbound_message of channel sms/zalo): its unique
(event, object, channel group) key, the Zalo and SMS legs with their provider references (tracking_id,
RequestId), the channel that carried it, the delivery status, the quiet-hours delay.
zalo_token: the OA's access token and rotating refresh token.

Data: none. Messages queued before this revision get their delivery row when they are sent.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'message_template',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('zns_template_id', sa.String(length=32), nullable=True),
        sa.Column('updated_at', core.db.UTCDateTime(), nullable=False),
        sa.Column('updated_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_message_template_centre_id_centre')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_template')),
        sa.UniqueConstraint('centre_id', 'event', name='uq_message_template_centre_event'),
    )
    op.create_index(op.f('ix_message_template_centre_id'), 'message_template', ['centre_id'], unique=False)
    op.create_table(
        'message_opt_out',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_opt_out')),
        sa.UniqueConstraint('phone', name=op.f('uq_message_opt_out_phone')),
    )
    op.create_table(
        'citizen_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('outbound_message_id', sa.Integer(), nullable=False),
        sa.Column('dedupe_key', sa.String(length=160), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=True),
        sa.Column('phone', sa.String(length=16), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('zalo_state', sa.String(length=16), nullable=False),
        sa.Column('zalo_tracking_id', sa.String(length=48), nullable=True),
        sa.Column('zalo_msg_id', sa.String(length=64), nullable=True),
        sa.Column('zalo_error', sa.Integer(), nullable=True),
        sa.Column('sms_state', sa.String(length=16), nullable=False),
        sa.Column('sms_request_id', sa.String(length=48), nullable=True),
        sa.Column('sms_id', sa.String(length=64), nullable=True),
        sa.Column('sms_code', sa.String(length=8), nullable=True),
        sa.Column('channel', sa.String(length=8), nullable=True),
        sa.Column('delivery_status', sa.String(length=32), nullable=True),
        sa.Column('delayed_until', core.db.UTCDateTime(), nullable=True),
        sa.Column('updated_at', core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['outbound_message_id'], ['outbound_message.id'],
                                name=op.f('fk_citizen_delivery_outbound_message_id_outbound_message')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_citizen_delivery')),
        sa.UniqueConstraint('outbound_message_id', name=op.f('uq_citizen_delivery_outbound_message_id')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_citizen_delivery_dedupe_key')),
    )
    op.create_table(
        'zalo_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('access_token', sa.Text(), nullable=True),
        sa.Column('refresh_token', sa.Text(), nullable=False),
        sa.Column('expires_at', core.db.UTCDateTime(), nullable=True),
        sa.Column('updated_at', core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_zalo_token')),
        sa.UniqueConstraint('app_id', name=op.f('uq_zalo_token_app_id')),
    )


def downgrade() -> None:
    op.drop_table('zalo_token')
    op.drop_table('citizen_delivery')
    op.drop_table('message_opt_out')
    op.drop_index(op.f('ix_message_template_centre_id'), table_name='message_template')
    op.drop_table('message_template')
