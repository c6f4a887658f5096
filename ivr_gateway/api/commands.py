"""CLI commands of the API: api-token."""

import click

commands: list[click.Command] = []
