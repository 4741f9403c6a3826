"""Per-app services (settings, database) and the per-request database session."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy.orm import Session

from core.db import Database
from core.settings import Settings


@dataclass
class Hcc:
    settings: Settings
    db: Database


def hcc() -> Hcc:
    return current_app.extensions["hcc"]


def settings() -> Settings:
    return hcc().settings


def db_session() -> Session:
    """The request's session, opened on first use and closed at the end of the request."""
    if "db_session" not in g:
        g.db_session = hcc().db.sessionmaker()
    return g.db_session


def close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
