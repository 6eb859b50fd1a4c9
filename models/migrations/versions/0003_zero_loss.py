"""Schema for the gateway: calls, spool replay, reconciliation and callbacks (issues 2 and 4).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A call's timeline holds each fact once, however often it is replayed.
    op.create_unique_constraint(
        "uq_call_events_uniqueid", "call_events", ["uniqueid", "kind", "at"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_call_events_uniqueid", "call_events", type_="unique")
