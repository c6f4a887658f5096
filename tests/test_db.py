"""Database plumbing: one-statement inserts, and pooled connections that went away meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from ivr_gateway import db as db_module
from ivr_gateway.db import Database, insert_unless_present
from ivr_gateway.models import ActualVisit
from ivr_gateway.sms.models import TokenCodeUse, VisitCodeToken
from tests.factories import make_adult, make_care_worker

WHEN = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def test_insert_unless_present_inserts_once_and_says_so(database: Database) -> None:
    with database.unit_of_work() as session:
        adult, carer = make_adult(session), make_care_worker(session)
        token = VisitCodeToken(serial="T1", adult_id=adult.id, secret_encrypted="x", digits=6,
                               step_seconds=30, drift_steps=0, active=True, created_at=WHEN,
                               updated_at=WHEN)
        session.add(token)
        session.flush()
        values = {"token_id": token.id, "time_step": 7, "care_worker_id": carer.id,
                  "used_at": WHEN, "inbound_text_id": None}
        key = ("token_id", "time_step", "care_worker_id")
        assert insert_unless_present(session, TokenCodeUse, values, key) is True
        # The same key again: nothing inserted, no error, and the transaction is still usable.
        assert insert_unless_present(session, TokenCodeUse, values, key) is False
        assert insert_unless_present(session, TokenCodeUse, {**values, "time_step": 8},
                                     key) is True
        assert session.scalar(select(func.count()).select_from(TokenCodeUse)) == 2


@pytest.mark.postgres_only
def test_a_pooled_connection_killed_while_idle_is_replaced_not_used(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with database.engine.connect() as connection:
        victim = connection.scalar(text("SELECT pg_backend_pid()"))
    # The database drops the pooled connection (a restart, a failover, a firewall timeout).
    with Database(database.url).engine.connect() as admin:
        assert admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        admin.commit()
    monkeypatch.setattr(db_module, "PING_IDLE_SECONDS", 0.0)  # it has been idle long enough
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(ActualVisit)) == 0
        assert session.scalar(text("SELECT pg_backend_pid()")) != victim


@pytest.mark.postgres_only
def test_a_connection_in_constant_use_is_not_pinged(database: Database) -> None:
    # Checked out again at once: no ping, so a connection killed in between fails in use, and
    # SQLAlchemy's disconnect handling refreshes the pool for the next request.
    with database.engine.connect() as connection:
        victim = connection.scalar(text("SELECT pg_backend_pid()"))
    with Database(database.url).engine.connect() as admin:
        admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        admin.commit()
    with pytest.raises(OperationalError), database.unit_of_work() as session:
        session.execute(text("SELECT 1"))
    with database.unit_of_work() as session:
        assert session.scalar(text("SELECT pg_backend_pid()")) != victim


@pytest.mark.postgres_only
def test_a_statement_run_twice_on_a_connection_is_prepared_on_the_server(
        database: Database) -> None:
    # The webhooks run the same statements all day: from the second run, PostgreSQL keeps the
    # plan (psycopg's prepare_threshold), rather than parsing and planning each time.
    query = select(func.count()).select_from(ActualVisit).where(ActualVisit.id > 41)
    with database.engine.connect() as connection:
        for _ in range(2):
            connection.execute(query)
        prepared = connection.scalars(text(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE :s"),
            {"s": "%FROM actual_visits%"}).all()
    assert prepared, "the statement was not prepared"
