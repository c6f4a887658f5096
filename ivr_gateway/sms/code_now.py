"""`codes now` without SQLAlchemy: one token's row read through the database's own driver.

Why it exists: importing SQLAlchemy takes 0.4-0.6 s on a small machine (SQLAlchemy 2.1 loads
asyncio and its whole SQL compiler), and `codes now` must answer in well under half a second:
support staff read its code to a carer on the phone, and it says for how many more seconds the
code is valid (issue 11, item 8). So this path opens the configured database with its DB-API
driver (the standard library's sqlite3, or psycopg), reads the token and its client's name in one
SELECT, and leaves the reckoning to sms/codes.py's code_shown_now, which current_code (the ORM
path, sms/devices.py) uses too: one answer, whichever path gave it.

It reads only the URL forms it can open exactly as the engine does (ivr_gateway.db.make_engine):
``sqlite:///relative/path`` and ``sqlite:////absolute/path`` (also ``sqlite+pysqlite:``), and
PostgreSQL's ``postgresql+psycopg://``, ``postgresql://`` and ``postgres://`` (what Settings
accepts). For any other form (a URL with SQLite options, an in-memory database, another driver)
it answers None and the command asks the ORM; so does a driver error (no database file, a
database not migrated, a server that does not answer), so that what is wrong is reported as it
always was (a server that does not answer is waited for twice, CONNECT_TIMEOUT each).
tests/sms/test_code_now.py checks the names in READS against the models and the
migrated schema on both engines, and that this path and current_code agree.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from ivr_gateway.config import Settings
from ivr_gateway.names import initials_of
from ivr_gateway.rota.problems import NotFound
from ivr_gateway.sms.codes import CurrentCode, code_shown_now

# The tables and columns this path reads, by name: a renamed column fails a test, not `codes now`.
READS = {
    "visit_code_tokens": ("serial", "secret_encrypted", "digits", "step_seconds", "drift_steps",
                          "adult_id"),
    "adults": ("id", "given_name", "family_name"),
}
ROW_QUERY = (
    "SELECT t.serial, t.secret_encrypted, t.digits, t.step_seconds, t.drift_steps, "
    "a.given_name, a.family_name "
    "FROM visit_code_tokens t LEFT JOIN adults a ON a.id = t.adult_id "
    "WHERE t.serial = {parameter}"
)
# As the engine waits (ivr_gateway.db): SQLite's busy_timeout, PostgreSQL's connect_timeout.
SQLITE_BUSY_SECONDS = 10
CONNECT_TIMEOUT = 5

Driver = Literal["sqlite", "postgresql"]


def driver_target(database_url: str) -> tuple[Driver, str] | None:
    """Which driver reads this URL and what it opens (a file path, a libpq URI), or None.

    None for a URL form the engine would read differently (see the module's docstring).
    """
    scheme, separator, rest = database_url.partition("://")
    if not separator:
        return None
    if scheme in ("sqlite", "sqlite+pysqlite"):
        # SQLAlchemy's sqlite:///x.db is x.db, sqlite:////tmp/x.db is /tmp/x.db. A query holds
        # driver options, and SQLAlchemy percent-decodes the path: leave those to the engine.
        path = rest[1:] if rest.startswith("/") else ""
        if not path or path == ":memory:" or "?" in path or "%" in path:
            return None
        return "sqlite", path
    if scheme in ("postgresql+psycopg", "postgresql", "postgres"):
        # libpq reads the rest (user, password, host, port, database, ?options) as SQLAlchemy
        # hands them to psycopg.
        return "postgresql", "postgresql://" + rest
    return None


def read_current_code(database_url: str, serial: str, settings: Settings, now: datetime
                      ) -> CurrentCode | None:
    """What token `serial` shows at `now`, read without the ORM; NotFound for an unknown serial.

    None when this path cannot answer (a URL form it does not read, a driver error): the
    caller then asks current_code, through the ORM.
    """
    target = driver_target(database_url)
    if target is None:
        return None
    driver, where = target
    try:
        row = _sqlite_row(where, serial) if driver == "sqlite" else _postgresql_row(where, serial)
    except _DriverFailed:
        return None
    if row is None:
        raise NotFound(f"No visit-code token with serial {serial!r}.")
    token_serial, secret_encrypted, digits, step_seconds, drift_steps, given, family = row
    initials = initials_of(given, family) if given is not None else None
    return code_shown_now(token_serial, secret_encrypted, digits=digits,
                          step_seconds=step_seconds, drift_steps=drift_steps,
                          adult_initials=initials, key_setting=settings.token_secret_key,
                          now=now)


class _DriverFailed(Exception):
    """The driver could not read the row: the ORM path reads it, and reports what is wrong."""


def _sqlite_row(path: str, serial: str) -> tuple[Any, ...] | None:
    # Read-only (mode=ro): a mistyped path is an error here, where sqlite3 would create an empty
    # file. isolation_level=None: one SELECT, no transaction of the driver's own.
    try:
        connection = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True,
                                     timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
        try:
            row: tuple[Any, ...] | None = connection.execute(
                ROW_QUERY.format(parameter="?"), (serial,)).fetchone()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise _DriverFailed(str(error)) from error
    return row


def _postgresql_row(conninfo: str, serial: str) -> tuple[Any, ...] | None:
    import psycopg  # only here: a SQLite command loads no PostgreSQL driver

    try:
        with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT,
                             autocommit=True) as connection:
            return connection.execute(ROW_QUERY.format(parameter="%s"), (serial,)).fetchone()
    except psycopg.Error as error:
        raise _DriverFailed(str(error)) from error
