"""A caller's triage history announces itself: ``NOTIFY siaga112_triage, '<caller number>'``.

The gateway answers a caller it knows has no triage history at once, before the arrival is written
(``gateway.ahead``). It knows that from the set of numbers that have any (prank or ghost tickets,
flags), loaded once and kept current by these triggers: whatever commits such history (a call
taker's classification, the system's ghost classification, a supervisor's flag, an edited caller
number) tells the gateway in the same commit. Ticket inserts by arriving calls carry no
classification, so the trigger's condition costs them one comparison.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen here: services.triage.decide.HISTORY_CHANNEL and the classifications that count as history.
CHANNEL = "siaga112_triage"
HISTORY = "('prank', 'ghost')"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION triage_history_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.caller_number IS NOT NULL THEN
                PERFORM pg_notify('{CHANNEL}', NEW.caller_number);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER tickets_triage_history "
        "AFTER INSERT OR UPDATE OF classification, caller_number ON tickets FOR EACH ROW "
        f"WHEN (NEW.classification IN {HISTORY}) EXECUTE FUNCTION triage_history_notify()"
    )
    op.execute(
        "CREATE TRIGGER caller_flags_triage_history "
        "AFTER INSERT OR UPDATE ON caller_flags FOR EACH ROW "
        "EXECUTE FUNCTION triage_history_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS caller_flags_triage_history ON caller_flags")
    op.execute("DROP TRIGGER IF EXISTS tickets_triage_history ON tickets")
    op.execute("DROP FUNCTION IF EXISTS triage_history_notify()")
