"""The `ivr-gateway` command: every package's commands are reachable, and loaded only when used."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from ivr_gateway.cli import PACKAGE_COMMANDS, main


def test_the_lazy_command_table_names_exactly_each_packages_commands_and_their_help() -> None:
    for module, names in PACKAGE_COMMANDS.items():
        commands: list[click.Command] = importlib.import_module(module).commands
        assert sorted(c.name or "" for c in commands) == sorted(names), module
        for command in commands:  # --help shows the table's line without importing the module
            assert names[command.name or ""] == command.get_short_help_str(limit=300)


def test_help_lists_every_command_and_a_lazy_one_runs() -> None:
    listed = CliRunner().invoke(main, ["--help"]).output
    for names in PACKAGE_COMMANDS.values():
        for name in names:
            assert f"  {name} " in listed
    assert "Print the JSON Schema" in CliRunner().invoke(main, ["ecc-schema", "--help"]).output
    assert "Text BODY to the gateway" in CliRunner().invoke(
        main, ["simulate", "sms", "--help"]).output


@pytest.mark.slow
def test_a_command_imports_its_own_package_not_flask_or_twilio() -> None:
    # In a fresh interpreter: what `codes now` would load before it touches the database.
    probe = ("import sys; from ivr_gateway.cli import main; "
             "main.get_command(None, 'codes'); "
             "print(sorted(m for m in ('flask', 'twilio', 'holidays', 'ivr_gateway.office.auth', "
             "'reportlab', 'ivr_gateway.escalation.rules') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe],  # noqa: S603 - our own probe
                            capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"


@pytest.mark.slow
def test_help_imports_no_command_package() -> None:
    probe = ("import sys; from click.testing import CliRunner; from ivr_gateway.cli import main; "
             "out = CliRunner().invoke(main, ['--help']).output; "
             "assert 'Visit codes: tokens' in out, out; "
             "print(sorted(m for m in sys.modules if m.endswith('.commands') "
             "or m in ('sqlalchemy', 'ivr_gateway.models')))")
    loaded = subprocess.run([sys.executable, "-c", probe],  # noqa: S603 - our own probe
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
