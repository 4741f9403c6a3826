"""`hcc fees ...`: import a centre's fee schedule, list it, settle stuck payments."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from api.context import hcc
from core import audit
from core.accounts import AccountError, get_centre
from core.errors import InvalidInput
from fees.schedule import import_schedule, parse_schedule, seed_default


@click.group("fees")
def fees_group():
    """Fee schedule and payments."""


@fees_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--centre", default=None, help="Centre code (default: the demo centre / the only centre).")
@with_appcontext
def import_cmd(file: str, centre: str | None):
    """Load a centre's fee schedule from a CSV (all lines or none)."""
    from flask import current_app

    from api.cli import prepare_embedded

    prepare_embedded(current_app._get_current_object())
    with open(file, encoding="utf-8") as fh:
        text = fh.read()
    try:
        rows = parse_schedule(text)
    except InvalidInput as e:
        for where, msgs in e.errors.items():
            for msg in msgs:
                click.echo(f"{where}: {msg}", err=True)
        raise click.ClickException(e.message) from e
    try:
        with hcc().db.session() as session:
            added, updated = import_schedule(session, get_centre(session, centre), rows,
                                             audit.Actor(type="cli", name="hcc fees import"))
    except AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"imported {len(rows)} fee line(s): {added} added, {updated} updated")


@fees_group.command("list")
@click.option("--centre", default=None)
@with_appcontext
def list_cmd(centre: str | None):
    """Print the centre's fee schedule."""
    from flask import current_app
    from sqlalchemy import select

    from api.cli import prepare_embedded
    from fees.models import FeeType

    prepare_embedded(current_app._get_current_object())
    with hcc().db.session() as session:
        c = get_centre(session, centre)
        for fee in session.scalars(select(FeeType).where(FeeType.centre_id == c.id).order_by(FeeType.code)):
            click.echo(f"{fee.code}\t{fee.kind}\t{fee.amount}\t{fee.name}\t{fee.legal_basis or ''}")


def seed_default_schedule(session) -> None:
    """Seeder of the embedded default: the demo centre gets the shipped schedule once."""
    from core.accounts import ensure_demo_centre

    seed_default(session, ensure_demo_centre(session))
