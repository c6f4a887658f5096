"""Run the Alembic migrations from code (the CLI's `migrate`, the demo, the tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from ivr_gateway.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    """Alembic's config for this checkout, pointed at a database."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "heads") -> None:
    """Bring the database to a revision (default: the newest)."""
    command.upgrade(alembic_config(database_url), revision)
