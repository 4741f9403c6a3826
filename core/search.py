"""Accent-insensitive search: a folded search column kept on write and matched with LIKE.

A model that can be searched has a `search_text` column holding the folded (core.addresses.fold:
lower-case, no diacritics, đ→d) words staff look things up by: codes, the payer's name and phone,
the dossier code. `maintain()` keeps it current on every insert and update; `matches()` turns what
staff typed into LIKE conditions on it, one per word, so "nguyen van an" finds "Nguyễn Văn An"
on PostgreSQL and on SQLite alike, through the column's index, never by folding rows in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sqlalchemy import and_, event, false
from sqlalchemy.sql.elements import ColumnElement

from core.addresses import fold

SEARCH_LENGTH = 600  # the column's width; longer folded text is cut (names and codes fit well within it)
MAX_WORDS = 6


def folded(parts: Iterable[object]) -> str:
    """The search column's value for these parts: each folded, blanks left out, joined by one space."""
    words = [fold(str(p)) for p in parts if p is not None and str(p).strip()]
    return " ".join(w for w in words if w)[:SEARCH_LENGTH]


def digits(phone: str | None) -> str | None:
    """A phone number's digits alone, so "0912345678" finds one stored as "0912 345 678"."""
    return re.sub(r"\D", "", phone) if phone else None


def maintain(model: type, parts: Callable[[object], Iterable[object]]) -> None:
    """Keep `model.search_text` equal to `folded(parts(row))` whenever a row is inserted or updated."""

    def refresh(_mapper, _connection, target) -> None:
        target.search_text = folded(parts(target))

    event.listen(model, "before_insert", refresh)
    event.listen(model, "before_update", refresh)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def words(query: str) -> list[str]:
    """What staff typed, folded and split into at most MAX_WORDS words."""
    return fold(query or "").split()[:MAX_WORDS]


def matches(column, query: str) -> ColumnElement[bool]:
    """Every word of `query` appears in `column` (a folded search column); nothing matches an empty query."""
    terms = words(query)
    if not terms:
        return false()
    return and_(*(column.like(f"%{_escape_like(w)}%", escape="\\") for w in terms))
