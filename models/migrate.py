"""Bring a database to the newest schema: ``python -m models.migrate [URL]``."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_config(url: str) -> Config:
    config = Config(str(Path(__file__).with_name("alembic.ini")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


if __name__ == "__main__":
    from core.settings import get_settings

    upgrade(sys.argv[1] if len(sys.argv) > 1 else (get_settings().database_url or ""))
