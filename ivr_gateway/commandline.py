"""What every `ivr-gateway` subcommand shares: settings, the database, the clock, who is acting.

The group callback puts one CliContext on click's ``ctx.obj``; a command reads it with
``cli_context()``. Nothing in it is built until a command first asks (so ``--help`` opens no
database and imports no SQLAlchemy, and `codes now` reads its row through the driver without
it), and the database is disposed when the command ends. Tests give
``CliRunner().invoke(main, args, obj=CliContext(settings=..., clock=FixedClock(...)))``.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from ivr_gateway.clock import Clock, SystemClock
from ivr_gateway.config import ConfigurationError, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ivr_gateway.db import Database


def settings_or_exit() -> Settings:
    """The settings from the environment, or a clean exit naming what is wrong."""
    try:
        return load_settings()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


class CliContext:
    """Settings, database and clock for one run of a command, each made on first use.

    ``before_opening``, when set, runs once before the database is first opened: the CLI
    registers every package's tables there, so that a command that never opens it loads no model.
    """

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None,
                 database: Database | None = None) -> None:
        self._settings = settings
        self.clock: Clock = clock or SystemClock()
        self._database = database
        self._owns_database = database is None
        self.before_opening: Callable[[], None] | None = None

    @property
    def settings(self) -> Settings:
        """The settings given, or read from the environment (a clean exit if they are wrong)."""
        if self._settings is None:
            self._settings = settings_or_exit()
        return self._settings

    @property
    def database(self) -> Database:
        """The database of the settings, opened once for the command."""
        if self._database is None:
            if self.before_opening is not None:
                self.before_opening()
            from ivr_gateway.db import Database

            self._database = Database(self.settings.database_url)
        return self._database

    @property
    def database_url(self) -> str:
        """The URL of the command's database (the one given, or the settings'), opening nothing."""
        return self._database.url if self._database is not None else self.settings.database_url

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction on the database: committed at the end, rolled back on an error."""
        with self.database.unit_of_work() as session:
            yield session

    def close(self) -> None:
        """Dispose of the database this context opened (a database given to it is the giver's)."""
        if self._database is not None and self._owns_database:
            self._database.dispose()
            self._database = None


def cli_context() -> CliContext:
    """The running command's CliContext (made here when the command was invoked on its own)."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
        root.call_on_close(root.obj.close)
    return root.obj


def cli_actor() -> str:
    """Who is acting, for the audit log: the operating-system user at the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers; the door is still the CLI
        return "cli"
