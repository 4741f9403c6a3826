"""Vietnam's two-level administrative units (since 1 July 2025): reference data, search, resolution.

The data comes from the maintained `vietnam-provinces` package, so an update of that package (and
`hcc addresses sync`) brings in later changes; nothing here is a hand-made copy.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.models import Province, Ward

_PREFIXES = ("thanh pho ", "tinh ", "phuong ", "xa ", "dac khu ", "thi tran ", "tp. ", "tp ", "p. ", "x. ")


def fold(text: str) -> str:
    """Lower-case, without diacritics, single-spaced: 'Phường Thanh Xuân' -> 'phuong thanh xuan'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return re.sub(r"\s+", " ", text).strip().lower()


def bare(text: str) -> str:
    """Folded name without its unit type: 'Phường Thanh Xuân' -> 'thanh xuan'."""
    folded = fold(text)
    for prefix in _PREFIXES:
        if folded.startswith(prefix):
            return folded[len(prefix):]
    return folded


def sync_reference_data(session: Session) -> tuple[int, int]:
    """Make the province and ward tables equal to the package's data; returns (provinces, wards)."""
    from vietnam_provinces import Province as PkgProvince
    from vietnam_provinces import Ward as PkgWard

    provinces = {f"{int(p.code):02d}": p for p in PkgProvince.iter_all()}
    wards = {f"{int(w.code):05d}": w for w in PkgWard.iter_all()}
    have_p = {p.code: p for p in session.scalars(select(Province))}
    have_w = {w.code: w for w in session.scalars(select(Ward))}
    if len(have_p) == len(provinces) and len(have_w) == len(wards) and set(have_w) == set(wards):
        return len(provinces), len(wards)
    for code, p in provinces.items():
        row = have_p.get(code) or Province(code=code)
        row.name, row.division_type, row.search_name = p.name, p.division_type.value, fold(p.name)
        session.add(row)
    session.flush()
    for code, w in wards.items():
        row = have_w.get(code) or Ward(code=code)
        row.name, row.division_type, row.search_name = w.name, w.division_type.value, fold(w.name)
        row.province_code = f"{int(w.province_code):02d}"
        session.add(row)
    gone = set(have_w) - set(wards)
    if gone:
        session.execute(delete(Ward).where(Ward.code.in_(gone)))
    session.flush()
    return len(provinces), len(wards)


def search_wards(session: Session, query: str, province_code: str | None = None, limit: int = 20) -> list[Ward]:
    """Wards whose name contains every word of the query, diacritics ignored."""
    words = bare(query).split()
    if not words:
        return []
    stmt = select(Ward)
    for word in words:
        stmt = stmt.where(Ward.search_name.contains(word))
    if province_code:
        stmt = stmt.where(Ward.province_code == province_code)
    rows = list(session.scalars(stmt.limit(500)))
    target = bare(query)
    # Exact names first, then shorter names (closer matches), then by name.
    rows.sort(key=lambda w: (bare(w.name) != target, len(w.name), w.name))
    return rows[:limit]


def search_provinces(session: Session, query: str) -> list[Province]:
    words = bare(query).split()
    stmt = select(Province)
    for word in words:
        stmt = stmt.where(Province.search_name.contains(word))
    rows = list(session.scalars(stmt))
    target = bare(query)
    rows.sort(key=lambda p: (bare(p.name) != target, len(p.name), p.name))
    return rows


class AddressError(ValueError):
    """Raised when a province or ward name does not resolve to exactly one unit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ResolvedAddress:
    street: str
    ward_code: str
    ward_name: str
    province_code: str
    province_name: str

    @property
    def full(self) -> str:
        return ", ".join(x for x in (self.street, self.ward_name, self.province_name) if x)


def resolve_address(session: Session, street: str, ward: str, province: str) -> ResolvedAddress:
    """Resolve ward and province given by name (with or without diacritics or unit type) or code."""
    p = session.get(Province, province.strip())
    if p is None:
        candidates = [c for c in search_provinces(session, province) if bare(c.name) == bare(province)]
        if len(candidates) != 1:
            raise AddressError("province", f"Không tìm thấy tỉnh/thành phố '{province}'.")
        p = candidates[0]
    w = session.get(Ward, ward.strip())
    if w is None or w.province_code != p.code:
        exact = [c for c in search_wards(session, ward, p.code, limit=50) if bare(c.name) == bare(ward)]
        if len(exact) > 1:
            # 'Phường X' and 'Xã X' can both exist; a unit type in the query decides.
            typed = [c for c in exact if fold(c.name) == fold(ward)]
            exact = typed or exact
        if len(exact) != 1:
            raise AddressError("ward", f"Không tìm thấy phường/xã '{ward}' thuộc {p.name}.")
        w = exact[0]
    return ResolvedAddress(street=street.strip(), ward_code=w.code, ward_name=w.name,
                           province_code=p.code, province_name=p.name)
