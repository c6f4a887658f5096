"""The liveness endpoint and the migrations it stands on."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask.testing import FlaskClient
from sqlalchemy import inspect

from ivr_gateway.db import Database
from ivr_gateway.schema import metadata


def test_healthz_reports_ok_with_a_database_round_trip(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok",
                                   "spool": {"depth": 0, "oldest_age_seconds": None}}


def test_healthz_reports_unhealthy_when_the_database_is_unreachable(client: FlaskClient) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    unreachable = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    client.application.extensions["database"] = unreachable
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unhealthy", "database": "OperationalError",
                                   "spool": {"depth": 0, "oldest_age_seconds": None}}


def test_migrations_create_every_table_the_models_declare(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_the_migrated_schema_matches_the_models_column_by_column(database: Database) -> None:
    # What `alembic revision --autogenerate` would write if a model changed without a migration:
    # tables, columns, types, nullability, indexes, unique constraints and foreign keys.
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
