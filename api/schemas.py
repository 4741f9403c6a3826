"""Schemas shared by every API blueprint: pagination arguments and envelopes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1), metadata={"description": "1-based page"})
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class PageMeta(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """A `{"items": [...], "page", "per_page", "total", "pages"}` schema for one item type."""
    return type(name, (PageMeta,), {"items": fields.List(fields.Nested(item_schema), required=True)})


def paginate(session: Session, stmt, page: int, per_page: int) -> dict:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return {"items": items, "page": page, "per_page": per_page, "total": total,
            "pages": (total + per_page - 1) // per_page}
