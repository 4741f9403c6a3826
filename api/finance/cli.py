"""`hcc reconcile`: import statements and close days from the command line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import with_appcontext

from api.context import hcc
from core import audit
from core.accounts import AccountError, get_centre
from core.errors import DomainError
from finance.closing import close_day
from finance.models import SOURCES
from finance.reconcile import import_statement, late_days_setting
from finance.settlements import fee_rates


@click.group("reconcile")
def reconcile_group():
    """Reconciliation: statements, settlement reports, COD remittances."""


@reconcile_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", required=True, type=click.Choice(list(SOURCES)), help="What the file is.")
@click.option("--centre", default=None, help="Centre code (default: the demo centre / the only centre).")
@with_appcontext
def import_cmd(file: Path, source: str, centre: str | None):
    """Import FILE and match it; prints a summary ending with `matched: M, discrepancies: D`."""
    from flask import current_app

    from api.cli import prepare_embedded

    prepare_embedded(current_app._get_current_object())
    actor = audit.Actor(type="cli", name="hcc reconcile import")
    try:
        with hcc().db.session() as session:
            c = get_centre(session, centre)
            result = import_statement(session, c.id, source, file.name, file.read_bytes(), actor,
                                      late_days=late_days_setting(hcc().settings),
                                      rates=fee_rates(hcc().settings))
            st = result.statement
            click.echo(f"file: {file.name} ({SOURCES[source][0]})")
            if not result.created:
                click.echo(f"already imported as #{st.id} on {st.imported_at:%Y-%m-%d}; nothing changed")
            click.echo(f"lines: {st.line_count}, total: {st.total_amount} đồng, period: {st.period_start} .. "
                       f"{st.period_end}")
            click.echo(result.summary_line)
    except (DomainError, AccountError) as e:
        detail = getattr(e, "message", str(e))
        raise click.ClickException(detail) from e


@reconcile_group.command("close")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--centre", default=None)
@click.option("--allow-empty", is_flag=True, help="Confirm closing a day with nothing on its books (a holiday).")
@with_appcontext
def close_cmd(day, centre, allow_empty):
    """Close a Vietnamese calendar day (YYYY-MM-DD)."""
    from flask import current_app

    from api.cli import prepare_embedded

    prepare_embedded(current_app._get_current_object())  # like `import`: a fresh instance has no tables yet
    actor = audit.Actor(type="cli", name="hcc reconcile close")
    try:
        with hcc().db.session() as session:
            c = get_centre(session, centre)
            closed = close_day(session, c.id, date(day.year, day.month, day.day), actor, allow_empty=allow_empty)
            click.echo(f"closed {closed.day}: {closed.summary.get('payments', 0)} payments, "
                       f"{closed.summary.get('collected', 0)} đồng")
    except (DomainError, AccountError) as e:
        raise click.ClickException(getattr(e, "message", str(e))) from e
