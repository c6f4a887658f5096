"""CLI: `webhooks add|list|remove|relay` and `mock-webhook-receiver`."""

from __future__ import annotations

import contextlib
import signal
import threading
from datetime import timedelta

import click

from ivr_gateway.commandline import cli_actor, cli_context


@click.group("webhooks")
def webhooks() -> None:
    """Signed outbound webhooks: the change feed pushed to rostering systems."""


@webhooks.command("add")
@click.argument("url")
@click.option("--events", default="*", show_default=True,
              help="Comma-separated event types (log_event.recorded, actual_visit.changed, "
                   "visit.corrected, reason_code.recorded, planned_visit.changed, "
                   "planned_visit.cancelled), or * for all.")
@click.option("--description", default="", help="Whose system it is, for the list.")
@click.option("--from-start", is_flag=True, help="Send the whole feed, not only what changes "
              "from now on.")
@click.option("--secret", default=None, help="Use this whsec_ secret (default: a new one).")
def add(url: str, events: str, description: str, from_start: bool, secret: str | None) -> None:
    """Subscribe URL; prints the secret once (verify each delivery's signature with it)."""
    from ivr_gateway.webhooks.subscriptions import SubscriptionInvalid, create_subscription

    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            view = create_subscription(
                session, url=url, event_types=[e.strip() for e in events.split(",") if e.strip()],
                description=description, actor=cli_actor(), now=cli.clock.now(),
                key_setting=cli.settings.token_secret_key, from_start=from_start, secret=secret)
    except SubscriptionInvalid as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Subscription {view.id} sends {', '.join(view.event_types)} to {view.url}.")
    click.echo(f"Its secret (shown only this once): {view.secret}")


@webhooks.command("list")
def list_command() -> None:
    """List subscriptions: id, state, event types, URL."""
    from ivr_gateway.webhooks.subscriptions import list_subscriptions

    cli = cli_context()
    with cli.unit_of_work() as session:
        views = list_subscriptions(session)
    if not views:
        click.echo("No webhook subscriptions.")
    for view in views:
        state = "active" if view.active else "paused"
        click.echo(f"{view.id}\t{state}\t{','.join(view.event_types)}\t{view.url}"
                   f"{chr(9) + view.description if view.description else ''}")


@webhooks.command("remove")
@click.argument("subscription_id", type=int)
def remove(subscription_id: int) -> None:
    """Remove a subscription (deliveries still queued for it are dropped)."""
    from ivr_gateway.webhooks.subscriptions import SubscriptionNotFound, remove_subscription

    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            view = remove_subscription(session, subscription_id)
    except SubscriptionNotFound as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Subscription {view.id} ({view.url}) removed.")


@webhooks.command("relay")
@click.option("--interval", type=float, default=1.0, show_default=True,
              help="Seconds between passes when there is nothing to send.")
@click.option("--lease", type=click.IntRange(1), default=60, show_default=True,
              help="Seconds a claimed delivery is ours before another relay may take it over.")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for a receiver's answer.")
@click.option("--once", is_flag=True, help="Run one pass and stop (for scripts).")
def relay(interval: float, lease: int, timeout: float, once: bool) -> None:
    """Fan the change feed out to the subscriptions and deliver (Procfile `webhooks`)."""
    from ivr_gateway.webhooks.relay import build_webhook_relay, run_webhook_relay

    cli = cli_context()
    settings, database, clock = cli.settings, cli.database, cli.clock
    relay_ = build_webhook_relay(settings, database, clock, lease=timedelta(seconds=lease),
                                 timeout=timeout)
    stop = threading.Event()
    with contextlib.suppress(ValueError):  # not the main thread (tests): no signal handler
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"Webhooks relay delivering every {interval:g} s when idle.")
    with contextlib.suppress(KeyboardInterrupt):
        run_webhook_relay(relay_, settings, database, clock, interval=interval, stop=stop,
                          max_passes=1 if once else None)


@click.command("mock-webhook-receiver")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5060, show_default=True, type=int)
@click.option("--secret", required=True, envvar="WEBHOOK_SECRET",
              help="The subscription's whsec_ secret (WEBHOOK_SECRET).")
def mock_webhook_receiver(host: str, port: int, secret: str) -> None:
    """Receive webhooks at /webhooks, verify their signatures, list them at GET /webhooks."""
    from werkzeug.serving import run_simple

    from ivr_gateway.webhooks.mock_receiver import create_receiver_app

    click.echo(f"Mock webhook receiver: POST http://{host}:{port}/webhooks; what arrived: "
               f"GET the same URL.")
    run_simple(host, port, create_receiver_app(secret), threaded=True)


commands = [webhooks, mock_webhook_receiver]
