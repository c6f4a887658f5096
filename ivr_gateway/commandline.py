"""What every `ivr-gateway` subcommand shares: settings, the database, and who is acting."""

from __future__ import annotations

import getpass

import click

from ivr_gateway.config import ConfigurationError, Settings, load_settings


def settings_or_exit() -> Settings:
    """The settings from the environment, or a clean exit naming what is wrong."""
    try:
        return load_settings()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


def cli_actor() -> str:
    """Who is acting, for the audit log: the operating-system user at the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers; the door is still the CLI
        return "cli"
