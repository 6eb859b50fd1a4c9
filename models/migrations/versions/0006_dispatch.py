"""Schema for agencies, dispatch and webhook delivery (issue 3).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Delivery workers LISTEN here; a new outbox row wakes them at once (one NOTIFY per statement,
# sent on commit).
OUTBOX_CHANNEL = "siaga112_outbox"


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.add_column("dispatches", sa.Column("note", sa.Text(), nullable=True))
    op.add_column("dispatches", sa.Column("en_route_at", ts, nullable=True))
    op.add_column("dispatches", sa.Column("cancelled_at", ts, nullable=True))
    op.add_column("outbox", sa.Column("dispatch_id", sa.BigInteger(), nullable=True))
    op.add_column("outbox", sa.Column("dead_at", ts, nullable=True))
    op.add_column("outbox", sa.Column("redelivered_at", ts, nullable=True))
    op.create_foreign_key(
        "fk_outbox_dispatch_id_dispatches", "outbox", "dispatches", ["dispatch_id"], ["id"]
    )
    op.create_index("ix_outbox_dispatch_id", "outbox", ["dispatch_id"])
    op.create_index(
        "ix_outbox_open",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("state IN ('pending', 'delivering')"),
    )
    op.create_index(
        "ix_outbox_dead", "outbox", ["dead_at", "id"], postgresql_where=sa.text("state = 'dead'")
    )
    op.create_index("ix_agency_secrets_agency_id", "agency_secrets", ["agency_id"])
    op.execute(
        f"""
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{OUTBOX_CHANNEL}', '');
            RETURN NULL;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
    op.drop_index("ix_agency_secrets_agency_id", table_name="agency_secrets")
    op.drop_index("ix_outbox_dead", table_name="outbox")
    op.drop_index("ix_outbox_open", table_name="outbox")
    op.drop_index("ix_outbox_dispatch_id", table_name="outbox")
    op.drop_constraint("fk_outbox_dispatch_id_dispatches", "outbox", type_="foreignkey")
    op.drop_column("outbox", "redelivered_at")
    op.drop_column("outbox", "dead_at")
    op.drop_column("outbox", "dispatch_id")
    op.drop_column("dispatches", "cancelled_at")
    op.drop_column("dispatches", "en_route_at")
    op.drop_column("dispatches", "note")
