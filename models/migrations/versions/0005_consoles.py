"""Gateway heartbeats for the readiness check (issue 4): each running gateway says every few
seconds whether its AMI link is up, how much its local spool holds and how many AGI sessions it
has in flight, and how many call takers are paused in the queue.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_heartbeats",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("ami_connected", sa.Boolean(), nullable=False),
        sa.Column("spool_pending", sa.Integer(), nullable=False),
        sa.Column("agi_in_flight", sa.Integer(), nullable=False),
        # call takers paused in the queue, as the gateway's AMI link last saw them (wallboard)
        sa.Column("calltakers_paused", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_heartbeats")
