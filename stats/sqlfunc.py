"""Vietnamese calendar day and month of a stored UTC instant, in SQL that SQLite and PostgreSQL both run.

ASSUMPTION (docs/statistics.md): on SQLite the local day is the UTC instant plus 7 hours. Vietnam has kept
UTC+7 with no daylight saving since 1975, so this equals Asia/Ho_Chi_Minh for every date the service holds;
PostgreSQL converts with the zone name itself.
"""

from __future__ import annotations

from sqlalchemy import Date, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class local_date(FunctionElement):  # noqa: N801 - reads like the SQL function it stands for
    """The Vietnamese calendar day of a UTC timestamp column."""

    type = Date()
    name = "local_date"
    inherit_cache = True


class local_month(FunctionElement):  # noqa: N801
    """'YYYY-MM' of the Vietnamese calendar day of a UTC timestamp column."""

    type = String()
    name = "local_month"
    inherit_cache = True


@compiles(local_date, "sqlite")
def _local_date_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)}, '+7 hours')"


@compiles(local_date)
def _local_date_pg(element, compiler, **kw):
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'Asia/Ho_Chi_Minh' AS DATE)"


@compiles(local_month, "sqlite")
def _local_month_sqlite(element, compiler, **kw):
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)}, '+7 hours')"


@compiles(local_month)
def _local_month_pg(element, compiler, **kw):
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM')"
