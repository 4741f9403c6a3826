"""The staff statistics page: filters, charts, the table, and CSV/XLSX exports of the same figures."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user
from sqlalchemy import select

from api.auth import require_roles
from api.context import db_session
from api.i18n import register_messages
from api.stats.charts import charts
from api.stats.v1 import STAFF_ROLES
from core.clock import local_day
from core.errors import InvalidInput, NotFound
from core.text import content_disposition
from province.models import CentreUnit, CollectingUnit
from stats.export import COLUMNS, to_csv, to_xlsx
from stats.queries import FIGURE_LABELS, GROUP_LABELS, GROUPS, Stats, compute

bp = Blueprint("stats_pages", __name__, url_prefix="/staff/stats")
# The page's stylesheet, served like the app's own static files (outside /staff: no object, no login needed).
assets = Blueprint("stats_assets", __name__, url_prefix="/assets/stats",
                   static_folder=str(Path(__file__).with_name("static")), static_url_path="")

register_messages({
    "nav.stats": {"vi": "Thống kê", "en": "Statistics"},
    "stats.title": {"vi": "Thống kê hồ sơ, phí và biên lai", "en": "Dossiers, fees and receipts statistics"},
})

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def register_navigation() -> None:
    from api.pages import NAV

    entry = ("stats_pages.page", "nav.stats", STAFF_ROLES)
    if entry not in NAV:
        NAV.append(entry)


def _day(name: str, default: date) -> date:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip()) if request.args.get(name) else default
    except ValueError:
        raise InvalidInput("bad date", errors={name: ["Ngày dạng YYYY-MM-DD."]}) from None


def _units(session) -> list[CollectingUnit]:
    stmt = select(CollectingUnit).order_by(CollectingUnit.code)
    if current_user.centre_ids is not None:
        stmt = stmt.where(CollectingUnit.id.in_(select(CentreUnit.unit_id).where(
            CentreUnit.centre_id.in_(sorted(current_user.centre_ids)))))
    return list(session.scalars(stmt))


def _figures() -> tuple[Stats, dict]:
    """The figures the query string asks for, limited to what the user sees (another centre: 404)."""
    session = db_session()
    today = local_day()
    start, end = _day("from", today.replace(day=1)), _day("to", today)
    group_by = request.args.get("group_by") or "procedure"
    centre_ids = current_user.centre_ids
    centre_code = (request.args.get("centre") or "").strip()
    if centre_code:
        try:
            centre_ids = frozenset({current_user.centre(session, centre_code).id})
        except NotFound:
            abort(404)
    units = _units(session)
    unit_code = (request.args.get("unit") or "").strip()
    unit_id = None
    if unit_code:
        unit_id = next((u.id for u in units if u.code == unit_code), None)
        if unit_id is None:
            abort(404)
    s = compute(session, start, end, group_by, centre_ids=centre_ids, unit_id=unit_id)
    query = {"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by, "centre": centre_code,
             "unit": unit_code}
    return s, {"query": query, "units": units}


@bp.get("/")
@require_roles(*STAFF_ROLES)
def page():
    error = None
    try:
        s, extra = _figures()
    except InvalidInput as e:
        error = "; ".join(m for msgs in (e.errors or {}).values() for m in msgs) or e.message
        today = local_day()
        s = compute(db_session(), today.replace(day=1), today, "procedure", centre_ids=current_user.centre_ids)
        extra = {"query": {"from": s.start.isoformat(), "to": s.end.isoformat(), "group_by": "procedure",
                           "centre": "", "unit": ""}, "units": _units(db_session())}
    centres = current_user.centres(db_session()) if current_user.many_centres else []
    return render_template("stats/page.html", s=s, charts=charts(s), error=error, groups=GROUPS,
                           group_labels=GROUP_LABELS, figure_labels=FIGURE_LABELS, columns=COLUMNS,
                           centres=centres, **extra)


@bp.get("/export.csv")
@require_roles(*STAFF_ROLES)
def export_csv():
    return _export("csv")


@bp.get("/export.xlsx")
@require_roles(*STAFF_ROLES)
def export_xlsx():
    return _export("xlsx")


def _export(fmt: str):
    try:
        s, _ = _figures()
    except InvalidInput:
        abort(400)
    name = f"thong-ke-{s.group_by}-{s.start:%Y%m%d}-{s.end:%Y%m%d}.{fmt}"
    if fmt == "csv":
        return Response(to_csv(s), mimetype="text/csv", headers={"Content-Disposition": content_disposition(name)})
    return Response(to_xlsx(s), mimetype=XLSX, headers={"Content-Disposition": content_disposition(name)})
