"""Database plumbing: engines for SQLite and PostgreSQL, the UTC datetime type, unit of work."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, Engine, Enum, MetaData, Table, bindparam, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations read the same on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both engines.

    SQLite has no time zones and hands back naive values; PostgreSQL's timestamptz hands back the
    session's zone. Either way the domain only ever sees aware UTC, and a naive value is refused
    rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def string_enum(cls: type[enum.Enum], length: int = 32) -> Enum:
    """An enum column stored as its values in plain strings (no native ENUM type), so both
    engines behave alike and a new value needs no migration."""
    return Enum(cls, native_enum=False, length=length, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web process read while another writes; busy_timeout waits for a lock rather
    # than failing at once; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for a URL, with the per-engine settings each needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)

        # pysqlite's own transaction handling defers BEGIN and so breaks SELECT ... then write
        # isolation; take the lock at BEGIN IMMEDIATE instead (SQLAlchemy docs, "Serializable
        # isolation / Savepoints / Transactional DDL" for pysqlite).
        @event.listens_for(engine, "connect")
        def _disable_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # psycopg prepares a statement on the server once it has run PREPARE_THRESHOLD times on a
    # connection (psycopg's default is 5): the webhooks run the same dozen statements all day.
    # connect_timeout: a server that does not answer (a dropped network, not a refused port)
    # must fail a webhook within Twilio's 15 s, so the outage spool can still take the call.
    connect_args = {"prepare_threshold": PREPARE_THRESHOLD, "connect_timeout": CONNECT_TIMEOUT,
                    **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _ping_idle_connections(engine)
    return engine


PREPARE_THRESHOLD = 1
CONNECT_TIMEOUT = 5  # seconds


def is_unreachable(error: BaseException) -> bool:
    """True when an error means the database could not be reached (refused, shut down, a
    dropped connection, no file, the pool exhausted), as opposed to a fault in a statement.

    The webhooks spool the carer's input on these (telephony/spool.py); a bad statement or
    odd input still takes the fault path, which stores what it can in the database.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError | InterfaceError | DisconnectionError
                      | PoolTimeoutError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


# A pooled connection unused for this long is tested before use (the database may have restarted
# or a firewall dropped it meanwhile). A busy web worker's connections are in constant use, so
# they skip the round trip that pool_pre_ping would add to every request; a connection that breaks
# mid-use anyway is caught by SQLAlchemy's disconnect handling, which refreshes the pool.
PING_IDLE_SECONDS = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling for connections that sat idle in the pool."""

    @event.listens_for(engine, "checkin")
    def _stamp(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_IDLE_SECONDS:
            return  # new (just connected) or recently used
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another (up to three times).
            raise DisconnectionError(f"idle connection failed its ping: {error}") from error


class Database:
    """One engine and its session factory; the gateway's only way to the database."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True on the embedded engine (one writer at a time, no row locks)."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session whose work is committed at the end of the block, or rolled back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, and between tests)."""
        self.engine.dispose()


def table_of(model: type[Base]) -> Table:
    """The Table of a mapped class (typed, for Core statements on it)."""
    return cast(Table, model.__table__)


def insert_unless_present(session: Session, model: type[Base], values: dict[str, Any],
                          unique_columns: tuple[str, ...]) -> bool:
    """INSERT one row unless a row with the same unique key exists; True if it was inserted.

    One statement (INSERT ... ON CONFLICT DO NOTHING, on both engines), where a check then an
    INSERT would be two; the conflict is on a unique constraint over `unique_columns`. The
    statement is built once per table, dialect and set of columns (it runs on every webhook).
    """
    dialect = session.get_bind().dialect.name
    key = (model, dialect, tuple(values), unique_columns)
    statement = _UPSERT_IGNORING.get(key)
    if statement is None:
        table = table_of(model)
        # Each dialect's insert imported when first used: a SQLite command loads no PostgreSQL.
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            base: Any = postgresql_insert(table)
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            base = sqlite_insert(table)
        else:  # pragma: no cover - the two engines we support
            raise NotImplementedError(f"insert_unless_present on {dialect}")
        # RETURNING the key, not rowcount: psycopg reports -1 for an INSERT that returns rows.
        statement = _UPSERT_IGNORING[key] = (
            base.values({name: bindparam(f"v_{name}", type_=table.c[name].type)
                         for name in values})
            .on_conflict_do_nothing(index_elements=list(unique_columns))
            .returning(*table.primary_key.columns))
    params = {f"v_{name}": value for name, value in values.items()}
    return session.execute(statement, params).first() is not None


_UPSERT_IGNORING: dict[tuple[Any, ...], Any] = {}
