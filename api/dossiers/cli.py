"""`hcc dossiers`: a centre's one-stop settings and the secret of the one-stop system's webhook."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from api.context import hcc
from core.models import Centre
from dossiers.models import LEVELS


@click.group("dossiers")
def dossiers_group():
    """Dossiers from the one-stop system."""


def _centre(session, code: str) -> Centre:
    centre = session.scalar(select(Centre).where(Centre.code == code))
    if centre is None:
        raise click.ClickException(f"no centre {code!r}")
    return centre


@dossiers_group.command("configure")
@click.argument("centre_code")
@click.option("--level", type=click.Choice(LEVELS), help="level of dossiers pushed without one")
@click.option("--carrier", type=click.Choice(("vnpost", "viettelpost", "ghn", "auto")),
              help="carrier of results by post (default: the centre's only carrier account)")
@click.option("--service", help="the carrier's service code (default: the carrier's default)")
@click.option("--weight", "weight_grams", type=click.IntRange(1, 50_000), help="grams of a result envelope")
@with_appcontext
def configure(centre_code, level, carrier, service, weight_grams):
    """Set CENTRE_CODE's one-stop settings."""
    from dossiers.service import configure_centre

    with hcc().db.session() as session:
        own = configure_centre(session, _centre(session, centre_code), level=level, carrier=carrier,
                               service=service, weight_grams=weight_grams)
        click.echo(f"{centre_code}: level={own.level} carrier={own.carrier or '-'} service={own.service or '-'} "
                   f"weight={own.weight_grams} g")


@dossiers_group.command("webhook-secret")
@click.argument("centre_code")
@with_appcontext
def webhook_secret(centre_code):
    """Generate CENTRE_CODE's secret for the one-stop system's signed webhook (printed once)."""
    from dossiers.inbound import new_webhook_secret

    with hcc().db.session() as session:
        value = new_webhook_secret(session, hcc().settings, _centre(session, centre_code).id)
    click.echo(value)
