"""`hcc postal`: poll carriers, drive the sandbox carriers, list overdue results."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from api.context import hcc


@click.group("postal")
def postal_group():
    """Postal dispatch: tracking polls and sandbox carriers."""


@postal_group.command("poll")
@with_appcontext
def poll():
    """Re-drive carrier creation and labels, read tracking feeds, deliver sandbox webhooks (once)."""
    from postal.jobs import drive_sandboxes, poll_tracking, redrive_creation, redrive_labels

    for fn in (redrive_creation, redrive_labels, poll_tracking, drive_sandboxes):
        with hcc().db.session() as session:
            click.echo(f"{fn.__name__}: {fn(session)}")


@postal_group.command("sandbox-advance")
@click.argument("hours", type=float)
@with_appcontext
def sandbox_advance(hours: float):
    """Move sandbox carrier time forward by HOURS of carrier time (then run `hcc postal poll`)."""
    from carriers.sandbox import store_for

    settings = hcc().settings
    if not settings.sandbox:
        raise click.ClickException("HCC_SANDBOX is off")
    store_for(settings).advance(hours * 3600)
    click.echo(f"sandbox time advanced by {hours} h")


@postal_group.command("overdue")
@click.option("--centre", default=None, help="Centre code (default: the demo centre / the only centre).")
@with_appcontext
def overdue_cmd(centre: str | None):
    """List results not delivered by their promised date."""
    from core.accounts import get_centre
    from postal.shipments import overdue

    with hcc().db.session() as session:
        c = get_centre(session, centre)
        for s in overdue(session, c.id):
            click.echo(f"{s.code}\t{s.dossier_code}\t{s.promised_date:%d/%m/%Y}\t{s.status}\t{s.tracking_code or ''}")
