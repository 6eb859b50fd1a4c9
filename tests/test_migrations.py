"""The Alembic migrations and the models describe the same schema: a database brought to the
newest revision differs in nothing (tables, columns, indexes, constraints) from ``models``."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Base
from models.migrate import alembic_config


def test_migrations_form_one_chain() -> None:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert [r.revision for r in reversed(revisions)] == [
        f"{n:04d}" for n in range(1, 1 + len(revisions))
    ]


async def test_migrated_database_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        differences = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )
    assert differences == []
