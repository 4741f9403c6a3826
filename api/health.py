"""Liveness and readiness probes for the load balancer and the orchestrator."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from api.context import hcc
from core import jobs, migrate

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks: dict[str, str] = {}
    db = hcc().db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok" if migrate.is_up_to_date(db) else "migrations pending"
    except Exception:
        checks["database"] = "unreachable"
    checks["queue"] = "ok" if jobs.ping_queue() else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)
