"""Free-text search that stays fast at 1,000,000 tickets (issue 6).

- ``tickets.search_document``: the search document (reporter, location, description) as a stored
  column, computed once when a ticket is written. The GIN index used to be on the ``to_tsvector``
  expression, so every row a search looked at outside the index (the newest-first scan that serves
  common words) computed ``to_tsvector`` again, about 12 microseconds a row.
- ``ix_tickets_search`` is rebuilt on that column under the same name, without GIN's pending list
  (``fastupdate = off``): every search would otherwise read the whole unsorted list of recent
  changes (up to 4 MB), and the insert that finds it full would stall to merge it. Tickets opened
  by an arriving call usually have no words yet: this costs call arrivals nothing.
- ``ix_tickets_worded_created_id``: newest first over the tickets that have any words. A search
  for common words walks back from the newest ticket until it has a page; the newest tickets are
  often calls just opened, or calls that ended with nothing to write down, and the walk no longer
  reads them.

Adding a stored generated column rewrites the table: about a minute at 1,000,000 tickets, during
which writes to ``tickets`` wait (the gateway's bounded database wait spools arrivals meanwhile).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The expression of 0001's index, frozen here.
DOCUMENT = (
    "to_tsvector('simple'::regconfig, coalesce(reporter_name,'') || ' ' || "
    "coalesce(location_text,'') || ' ' || coalesce(description,''))"
)
WORDED = "search_document <> ''::tsvector"


def upgrade() -> None:
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")  # the index builds, this transaction
    op.add_column(
        "tickets",
        sa.Column(
            "search_document",
            postgresql.TSVECTOR(),
            sa.Computed(DOCUMENT, persisted=True),
            nullable=True,
        ),
    )
    op.drop_index("ix_tickets_search", table_name="tickets", postgresql_using="gin")
    op.create_index(
        "ix_tickets_search",
        "tickets",
        ["search_document"],
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )
    op.create_index(
        "ix_tickets_worded_created_id",
        "tickets",
        ["created_at", "id"],
        postgresql_where=sa.text(WORDED),
    )
    # The planner's word frequencies for the new column: without them it guesses how many tickets
    # a search matches, and autovacuum would not gather them until a tenth of the table changed.
    op.execute("ANALYZE tickets (search_document)")


def downgrade() -> None:
    op.drop_index("ix_tickets_worded_created_id", table_name="tickets")
    op.drop_index("ix_tickets_search", table_name="tickets", postgresql_using="gin")
    op.drop_column("tickets", "search_document")
    op.create_index(
        "ix_tickets_search",
        "tickets",
        [sa.literal_column(DOCUMENT)],
        postgresql_using="gin",
    )
