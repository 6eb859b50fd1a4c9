"""Positions received by Advanced Mobile Location (AML), matched to their callers' tickets.

A phone that dials 112 sends its position by HTTPS or SMS; the API stores each one here as
received and matches it to the ticket of the same number whose call arrived around then
(``services.aml.service``, docs/aml.md). Positions that come before their ticket wait with
``ticket_id`` NULL; the partial index finds them by number and time. Nothing on the call path
reads or writes this table.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aml_positions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("caller_number", sa.String(32), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=True),
        sa.Column("positioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confidence", sa.SmallInteger(), nullable=True),
        sa.Column("method", sa.String(1), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column(
            "ticket_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "tickets.id",
                ondelete="RESTRICT",
                name="fk_aml_positions_ticket_id_tickets",
            ),
            nullable=True,
        ),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "latitude BETWEEN -90 AND 90", name="ck_aml_positions_latitude_range"
        ),
        sa.CheckConstraint(
            "longitude BETWEEN -180 AND 180", name="ck_aml_positions_longitude_range"
        ),
        sa.CheckConstraint(
            "confidence IS NULL OR confidence BETWEEN 0 AND 100",
            name="ck_aml_positions_confidence",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_aml_positions"),
    )
    op.create_index(
        "ix_aml_positions_ticket_received", "aml_positions", ["ticket_id", "received_at"]
    )
    op.create_index(
        "ix_aml_positions_pending",
        "aml_positions",
        ["caller_number", "received_at"],
        postgresql_where=sa.text("ticket_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("aml_positions")
