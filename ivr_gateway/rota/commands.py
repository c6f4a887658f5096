"""CLI commands of the rota: import-rota."""

import click

commands: list[click.Command] = []
