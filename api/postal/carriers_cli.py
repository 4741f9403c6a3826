"""`hcc carriers`: carriers' own address codes — sync a carrier's catalogue, see its coverage of our
wards, settle the wards the matching could not."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from api.context import hcc

CLI_ACTOR = "cli"


@click.group("carriers")
def carriers_group():
    """Carriers' address catalogues and their mapping to our wards."""


def _carrier(name: str) -> str:
    from carriers.base import carrier_names

    if name not in carrier_names():
        raise click.BadParameter(f"unknown carrier {name!r} (known: {', '.join(carrier_names())})")
    return name


def _echo_coverage(cov) -> None:
    from core.text import printable

    if not cov.synced and not cov.own_codes:
        click.echo(f"{cov.carrier}: no catalogue synced (hcc carriers sync-units {cov.carrier})")
    elif cov.own_codes:
        click.echo(f"{cov.carrier}: offers no catalogue; takes our two-level codes as they are")
    else:
        for u in cov.unmapped:
            click.echo(printable(f"  {u.code} {u.name}, {u.province}: {u.reason}"))
    click.echo(cov.line)


@carriers_group.command("sync-units")
@click.argument("carrier")
@with_appcontext
def sync_units_cmd(carrier: str):
    """Read CARRIER's address catalogue through its API (its sandbox by default), store it and show
    the coverage of our wards."""
    from carriers.base import CarrierError, NotSupported
    from core import audit
    from postal import addressing

    carrier = _carrier(carrier)
    try:
        with hcc().db.session() as session:
            cov = addressing.sync_units(session, hcc().settings, carrier, by=CLI_ACTOR)
            audit.record(session, audit.Actor(type="system", id=CLI_ACTOR, name="hcc carriers"),
                         "carrier.units_synced", entity_type="carrier", entity_id=carrier,
                         after={"mapped": cov.mapped, "total": cov.total})
    except NotSupported as e:
        raise click.ClickException(f"{carrier} offers no address catalogue; it takes our codes") from e
    except CarrierError as e:
        raise click.ClickException(f"{carrier}: {e}") from e
    _echo_coverage(cov)


@carriers_group.command("coverage")
@click.argument("carriers", nargs=-1)
@with_appcontext
def coverage_cmd(carriers: tuple[str, ...]):
    """List every ward of ours each carrier (all by default) cannot address, with the reason; the last
    line per carrier is `CARRIER: mapped N/M communes (P%)`."""
    from carriers.base import carrier_names
    from postal import addressing

    names = [_carrier(c) for c in carriers] or carrier_names()
    with hcc().db.session() as session:
        for name in names:
            _echo_coverage(addressing.coverage(session, name))


@carriers_group.command("settle")
@click.argument("carrier")
@click.argument("ward_code")
@click.argument("carrier_id")
@with_appcontext
def settle_cmd(carrier: str, ward_code: str, carrier_id: str):
    """Settle that our ward WARD_CODE is CARRIER's ward CARRIER_ID (its own id); kept across syncs."""
    from core import audit
    from postal import addressing

    carrier = _carrier(carrier)
    try:
        with hcc().db.session() as session:
            addressing.settle(session, carrier, ward_code, carrier_id, by=CLI_ACTOR)
            audit.record(session, audit.Actor(type="system", id=CLI_ACTOR, name="hcc carriers"),
                         "carrier.unit_settled", entity_type="ward", entity_id=ward_code,
                         after={"carrier": carrier, "carrier_ward_id": carrier_id})
            ids = addressing.carrier_ids(session, hcc().settings, carrier, ward_code)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{carrier}: {ward_code} -> " + ", ".join(f"{k} {v}" for k, v in sorted(ids.items())))
