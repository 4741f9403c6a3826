"""Usage reports and error notices from the CLI (`hcc tax report bc26`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext


def init_app(app, api, group) -> None:
    """Register this part's blueprints and commands on `group`."""
    import tax.bc26  # noqa: F401 (its settings)
    import tax.corrections  # noqa: F401 (04/SS-CTĐT: event handlers, job and sweeper)

    if "report" not in group.commands:
        group.add_command(report_group)


@click.group("report")
def report_group():
    """Báo cáo gửi cơ quan thuế (BC26/BLĐT)."""


@report_group.command("bc26")
@click.option("--unit", "unit_code", required=True, help="Code of the collecting unit.")
@click.option("--period", default=None, help="2026Q4 (a quarter) or 2026-11 (a month, for a unit registered "
                                              "monthly); the last complete period when omitted.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write bc26.xml (the signed report in its TDiep) and bc26.xlsx into.")
@click.option("--submit", is_flag=True, help="Also send the report to the tax authority through the channel.")
@with_appcontext
def bc26_cmd(unit_code: str, period: str | None, out_dir: Path, submit: bool):
    """BC26/BLĐT of a unit: receipts used per template and symbol, and their total, for the period."""
    from flask import current_app

    from api.cli import prepare_embedded
    from api.context import hcc
    from core.errors import DomainError
    from receipts.content import format_amount
    from tax.bc26 import make

    prepare_embedded(current_app._get_current_object())
    ctx = hcc()
    with ctx.db.session() as session:
        try:
            written = make(session, ctx.settings, unit_code=unit_code.strip(), period=period, submit=submit)
        except DomainError as e:
            session.rollback()
            click.echo(" ".join(sum(e.errors.values(), [])) or e.message, err=True)
            sys.exit(2)
        session.commit()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bc26.xml").write_bytes(written.xml)
    (out_dir / "bc26.xlsx").write_bytes(written.xlsx)
    report = written.report
    click.echo(f"BC26/BLĐT {report.unit.code} {report.period.text}: {report.used} biên lai, "
               f"{format_amount(report.total)} đồng")
    for row in report.rows:
        click.echo(f"  {row.template} {row.symbol}: {row.used} biên lai, {format_amount(row.total)} đồng")
    if submit:
        click.echo(f"submitted: {written.message_id or '(queued)'}")
    click.echo(f"written: {out_dir / 'bc26.xml'}, {out_dir / 'bc26.xlsx'}")
