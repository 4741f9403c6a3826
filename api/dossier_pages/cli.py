"""`hcc calendar`: the business calendar the administrator keeps per year (holidays and make-up days)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from api.context import hcc
from core import audit
from core.errors import InvalidInput
from core.text import printable
from dossiers import calendar


def _actor() -> audit.Actor:
    return audit.Actor(type="system", name="hcc cli (calendar)")


@click.group("calendar", help="Lịch làm việc: ngày nghỉ lễ, Tết, nghỉ bù và ngày làm bù của từng năm.")
def calendar_group():
    pass


@calendar_group.command("list")
@click.argument("year", type=int)
@with_appcontext
def list_days(year: int):
    """The year's holidays (weekdays off) and working weekend days."""
    with hcc().db.session() as session:
        rows = calendar.days_of_year(session, year)
        if not rows:
            click.echo(f"Chưa có ngày nghỉ nào cho năm {year}: hãy thêm (hcc calendar add) hoặc `hcc calendar seed {year}`.")
        for row in rows:
            click.echo(f"{row.day.isoformat()}\t{row.kind}\t{printable(row.name)}")


@calendar_group.command("add")
@click.argument("day")
@click.option("--name", required=True, help="Tên ngày nghỉ, ví dụ 'Tết Âm lịch (mùng 1 Tết)'.")
@click.option("--workday", is_flag=True, help="Một thứ Bảy/Chủ nhật làm bù (thay vì một ngày nghỉ).")
@with_appcontext
def add_day(day: str, name: str, workday: bool):
    """Add (or rename) a day: a weekday off, or with --workday a weekend day worked."""
    with hcc().db.session() as session:
        try:
            row = calendar.set_day(session, calendar.parse_day(day), "workday" if workday else "holiday", name)
        except InvalidInput as e:
            raise click.ClickException("; ".join(m for msgs in e.errors.values() for m in msgs) or e.message) from e
        audit.record(session, _actor(), "calendar.day_set", entity_type="calendar_day", entity_id=row.day.isoformat(),
                     after={"kind": row.kind, "name": row.name})
        session.commit()
        click.echo(f"{row.day.isoformat()}\t{row.kind}\t{printable(row.name)}")


@calendar_group.command("remove")
@click.argument("day")
@with_appcontext
def remove_day(day: str):
    """Remove a day from the calendar (it becomes an ordinary weekday or weekend day again)."""
    with hcc().db.session() as session:
        try:
            when = calendar.parse_day(day)
        except InvalidInput as e:
            raise click.ClickException("Ngày dạng YYYY-MM-DD.") from e
        if not calendar.remove_day(session, when):
            raise click.ClickException(f"{when.isoformat()} không có trong lịch.")
        audit.record(session, _actor(), "calendar.day_removed", entity_type="calendar_day", entity_id=when.isoformat())
        session.commit()
        click.echo(f"Đã xoá {when.isoformat()}.")


@calendar_group.command("seed")
@click.argument("year", type=int)
@with_appcontext
def seed(year: int):
    """Add the days this version knows for YEAR (Labour Code 2019 Art. 112 and the announced swaps) that are missing."""
    with hcc().db.session() as session:
        added = calendar.seed_year(session, year)
        session.commit()
    if not calendar.SEED_DAYS.get(year):
        raise click.ClickException(f"Chưa có lịch nghỉ công bố cho năm {year}: thêm từng ngày bằng `hcc calendar add`.")
    click.echo(f"Đã thêm {added} ngày cho năm {year}.")
