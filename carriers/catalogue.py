"""Matching a carrier's own address catalogue to our two-level wards: pure functions, no I/O.

GHN and Viettel Post still key addresses by the three-level units in force before 1 July 2025
(province, district, ward, each with the carrier's own id). Our addresses name a two-level ward (since
1 July 2025). A ward of ours is matched to a carrier ward in this order:

1. the carrier gives official (GSO) codes: the code decides (ours, or an old ward's, see 3);
2. the carrier already lists two-level units (wards directly under provinces): by name in the province;
3. the succession (which old wards each new ward was formed from, `carriers.sandbox.succession`): the
   old ward that holds the new ward's seat (the one whose GSO code the new ward kept), else the first
   the resolution names, that the carrier lists, matched by name under the old district under the
   old province;
4. a settlement an administrator recorded (it overrides the above and survives re-syncs).

Names are compared as spelled (case aside) first, then after Vietnamese normalisation (`unit_key`): no diacritics (đ -> d, 'Hoà' = 'Hòa'),
no unit type prefix ('Phường', 'Xã', 'Thị trấn', 'Đặc khu', 'Quận', 'Huyện', 'Thị xã', 'Thành phố',
'Tỉnh', abbreviated or not), case, spaces and punctuation ignored, numbered wards by number ('Phường
01' = 'Phường 1' = 'Phường I'). The unit type is compared first, then the bare name if that is unique
(a district may hold 'Xã Long Mỹ' and 'Thị trấn Long Mỹ'): several carrier units with one name are
ambiguous, never guessed.

ASSUMPTIONS (the one place they are listed in code; docs/carriers/address-codes.md explains them):
- GHN master data: GET /shiip/public-api/master-data/province, /district, /ward?district_id= (header
  Token); ProvinceID/ProvinceName, DistrictID/DistrictName/ProvinceID, WardCode (text)/WardName/
  DistrictID. Orders: from_/to_district_id (int) and from_/to_ward_code (text).
- Viettel Post categories: GET /v2/categories/listProvinceById?provinceId=-1, listDistrict?provinceId=,
  listWards?districtId=, no token; PROVINCE_ID/PROVINCE_NAME, DISTRICT_ID/DISTRICT_VALUE (official
  district code)/DISTRICT_NAME, WARDS_ID/WARDS_NAME. Orders send SENDER_/RECEIVER_PROVINCE, _DISTRICT,
  _WARD (numbers); its answer echoes RECEIVER_PROVINCE/DISTRICT/WARDS.
- The sandboxes' ids are made up in each carrier's shape (see their `catalogue()`); real ids differ.
- A merged ward maps to its seat: the old ward whose GSO code it kept, then the others in the order
  `vietnamadminunits` tabulates the resolutions (`carriers.sandbox.succession`).
- The island special zones (formed from districts without communes) have no old ward: a three-level
  carrier cannot address them until an administrator settles them.
- A carrier whose adapter offers no catalogue (NotSupported) takes our two-level codes (postal).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from carriers.base import CarrierUnit

# Unit types, longest first, as they appear at the start of a folded name.
_TYPES = (
    ("thanh pho ", "thanhpho"), ("thi tran ", "thitran"), ("thi xa ", "thixa"), ("dac khu ", "dackhu"),
    ("phuong ", "phuong"), ("quan ", "quan"), ("huyen ", "huyen"), ("tinh ", "tinh"), ("xa ", "xa"),
    ("tp. ", "thanhpho"), ("tp ", "thanhpho"), ("tx. ", "thixa"), ("tx ", "thixa"), ("tt. ", "thitran"),
    ("tt ", "thitran"), ("p. ", "phuong"), ("q. ", "quan"), ("h. ", "huyen"), ("x. ", "xa"),
)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10,
          "xi": 11, "xii": 12, "xiii": 13, "xiv": 14, "xv": 15}


def fold(text: str) -> str:
    """Lower case, without diacritics, single-spaced: 'Phường Thanh Xuân' -> 'phuong thanh xuan'."""
    text = (text or "").replace("đ", "d").replace("Đ", "D").replace("Ð", "D")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return re.sub(r"\s+", " ", text).strip().lower()


@lru_cache(maxsize=65536)
def unit_key(name: str) -> tuple[str | None, str]:
    """(unit type, bare key) of a unit name: 'Phường 01' -> ('phuong', '1'), 'QUẬN BA ĐÌNH' ->
    ('quan', 'badinh'), 'Hồ Chí Minh' -> (None, 'hochiminh'), "Xã Ea M'Droh" -> ('xa', 'eamdroh')."""
    folded = fold(name)
    kind = None
    for prefix, value in _TYPES:
        if folded.startswith(prefix) and len(folded) > len(prefix):
            kind, folded = value, folded[len(prefix):]
            break
    words = re.sub(r"['’`´]", "", folded)
    words = re.sub(r"[^a-z0-9]+", " ", words).split()
    if len(words) == 1 and words[0] in _ROMAN and kind in ("phuong", "xa", "thitran"):
        words = [str(_ROMAN[words[0]])]
    words = [str(int(w)) if w.isdigit() else w for w in words]
    return kind, "".join(words)


@dataclass(frozen=True)
class WardMatch:
    """A ward of ours matched to the carrier: its ids, how, and through which old ward."""

    ids: dict[str, str]
    method: str                      # "code" | "name" | "succession" | "settled"
    via: str | None = None           # the old ward (GSO code) the match went through
    carrier_name: str = ""           # the carrier ward's name, for the administrator


@dataclass
class Matching:
    """The result of matching one carrier's catalogue to our wards."""

    mapped: dict[str, WardMatch] = field(default_factory=dict)
    unmapped: dict[str, str] = field(default_factory=dict)   # our ward code -> why (Vietnamese)
    candidates: dict[str, list[str]] = field(default_factory=dict)  # ambiguous: carrier ward ids

    @property
    def total(self) -> int:
        return len(self.mapped) + len(self.unmapped)


class _Index:
    """A carrier's catalogue by level and parent, with name keys."""

    def __init__(self, units: Iterable[CarrierUnit]):
        self.by_id: dict[tuple[str, str], CarrierUnit] = {}
        self.children: dict[tuple[str, str | None], list[CarrierUnit]] = {}
        self.by_code: dict[tuple[str, str], list[CarrierUnit]] = {}
        for u in units:
            self.by_id[(u.level, u.id)] = u
            self.children.setdefault((u.level, u.parent_id), []).append(u)
            if u.code:
                self.by_code.setdefault((u.level, u.code.lstrip("0") or "0"), []).append(u)
        self.provinces = self.children_of("province", None) or [u for (lvl, _), u in self.by_id.items()
                                                                 if lvl == "province"]
        self.three_level = any(lvl == "district" for lvl, _ in self.by_id)

    def children_of(self, level: str, parent: str | None) -> list[CarrierUnit]:
        return self.children.get((level, parent), [])

    def find(self, level: str, name: str, parent: str | None, pool: list[CarrierUnit] | None = None
             ) -> tuple[CarrierUnit | None, list[CarrierUnit]]:
        """The one unit named `name` under `parent` (None, candidates) when there are several or none."""
        pool = self.children_of(level, parent) if pool is None else pool
        # The very spelling first: 'Xã Hoằng Thanh' and 'Xã Hoằng Thành' differ only in their marks.
        spelled = [u for u in pool if _spelling(u.name) == _spelling(name)]
        if len(spelled) == 1:
            return spelled[0], spelled
        kind, bare = unit_key(name)
        same = [u for u in pool if unit_key(u.name)[1] == bare]
        exact = [u for u in same if unit_key(u.name)[0] == kind] if kind else []
        for group in (exact, same):
            if len(group) == 1:
                return group[0], group
        # Several with the same bare name and none (or several) of the same type: ambiguous.
        return None, exact or same

    def ids_of_ward(self, ward: CarrierUnit) -> dict[str, str]:
        ids = {"ward": ward.id}
        parent = ward.parent_id
        district = self.by_id.get(("district", parent)) if parent else None
        if district is not None:
            ids["district"] = district.id
            parent = district.parent_id
        if parent and ("province", parent) in self.by_id:
            ids["province"] = parent
        return ids


@lru_cache(maxsize=65536)
def _spelling(name: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", name or "")).strip().casefold()


def _code(code: str | None) -> str:
    return (code or "").lstrip("0") or "0"


def match(units: Iterable[CarrierUnit], legacy: Iterable, current: Iterable, succession: Mapping[str, list[str]],
          settlements: Mapping[str, str] | None = None) -> Matching:
    """Match a carrier's catalogue (`units`) to our wards (`current`: AdminUnit of levels province and
    ward), through the pre-reform units (`legacy`: AdminUnit province/district/ward) and `succession`
    (our ward code -> old ward codes, seat first). `settlements` (our ward code -> carrier ward id)
    override everything. Returns every ward of ours as mapped or unmapped with the reason."""
    index = _Index(units)
    legacy = list(legacy)
    current = list(current)
    old_by_code = {(u.level, u.code): u for u in legacy}
    provinces = {u.code: u for u in current if u.level == "province"}
    result = Matching()

    # Old provinces and districts to the carrier's, by name (once each).
    old_province: dict[str, CarrierUnit | None] = {}
    for u in legacy:
        if u.level == "province":
            old_province[u.code] = index.find("province", u.name, None, index.provinces)[0]
    old_district: dict[str, CarrierUnit | None] = {}
    for u in legacy:
        if u.level == "district":
            cp = old_province.get(u.parent_code or "")
            old_district[u.code] = index.find("district", u.name, cp.id)[0] if cp is not None else None

    def old_ward(code: str) -> tuple[CarrierUnit | None, str]:
        """The carrier's ward for an old (pre-reform) ward, or why not."""
        by_code = index.by_code.get(("ward", _code(code))) or []
        if len(by_code) == 1:
            return by_code[0], "code"
        w = old_by_code.get(("ward", code))
        if w is None:
            return None, f"phường/xã cũ {code} không có trong danh mục trước sáp nhập"
        d = old_by_code.get(("district", w.parent_code or ""))
        p = old_by_code.get(("province", d.parent_code or "")) if d else None
        if d is None or p is None:
            return None, f"{w.name}: không rõ quận/huyện, tỉnh cũ"
        if old_province.get(p.code) is None:
            return None, f"đơn vị vận chuyển không có {p.name}"
        cd = old_district.get(d.code)
        if cd is None:
            return None, f"đơn vị vận chuyển không có {d.name} ({p.name})"
        found, candidates = index.find("ward", w.name, cd.id)
        if found is not None:
            return found, "name"
        if candidates:
            return None, (f"{w.name} ({d.name}) trùng tên {len(candidates)} đơn vị của đơn vị vận chuyển: "
                          + ", ".join(f"{c.name} [{c.id}]" for c in candidates))
        return None, f"đơn vị vận chuyển không có {w.name} ({d.name}, {p.name})"

    # Our provinces to the carrier's, for carriers already on two levels.
    new_province: dict[str, CarrierUnit | None] = {}
    if not index.three_level:
        for code, p in provinces.items():
            new_province[code] = index.find("province", p.name, None, index.provinces)[0]

    settlements = settlements or {}
    for w in current:
        if w.level != "ward":
            continue
        settled = settlements.get(w.code)
        if settled is not None:
            unit = index.by_id.get(("ward", settled))
            if unit is not None:
                result.mapped[w.code] = WardMatch(index.ids_of_ward(unit), "settled", None, unit.name)
                continue
            # A settlement to a ward the carrier no longer lists falls back to matching, said below.
        province_name = provinces[w.parent_code].name if w.parent_code in provinces else ""
        by_code = index.by_code.get(("ward", _code(w.code))) or []
        if not index.three_level and len(by_code) == 1:
            result.mapped[w.code] = WardMatch(index.ids_of_ward(by_code[0]), "code", None, by_code[0].name)
            continue
        if not index.three_level:
            cp = new_province.get(w.parent_code or "")
            if cp is None:
                result.unmapped[w.code] = f"đơn vị vận chuyển không có {province_name}"
                continue
            found, candidates = index.find("ward", w.name, cp.id)
            if found is not None:
                result.mapped[w.code] = WardMatch(index.ids_of_ward(found), "name", None, found.name)
            elif candidates:
                result.candidates[w.code] = [c.id for c in candidates]
                result.unmapped[w.code] = (f"trùng tên {len(candidates)} đơn vị của đơn vị vận chuyển: "
                                           + ", ".join(f"{c.name} [{c.id}]" for c in candidates))
            else:
                result.unmapped[w.code] = f"đơn vị vận chuyển không có {w.name} ({province_name})"
            continue
        olds = list(succession.get(w.code) or [])
        reasons = []
        for position, old in enumerate(olds):
            found, how = old_ward(old)
            if found is not None:
                method = "code" if how == "code" else "succession"
                result.mapped[w.code] = WardMatch(index.ids_of_ward(found), method, old, found.name)
                break
            reasons.append(how)
            if position == 0 and "trùng tên" in how:
                # The seat is ambiguous: an administrator decides rather than a lesser predecessor.
                d = old_by_code.get(("ward", old))
                cd = old_district.get(d.parent_code) if d and d.parent_code else None
                result.candidates[w.code] = [c.id for c in index.find("ward", d.name, cd.id)[1]] if d and cd else []
                break
        else:
            if not olds:
                reasons.append("không được hình thành từ phường/xã cũ nào (đơn vị cũ không có cấp xã)")
        if w.code not in result.mapped:
            result.unmapped[w.code] = "; ".join(dict.fromkeys(reasons)) or "không khớp"
    return result


def coverage_line(carrier: str, matching: Matching) -> str:
    """`CARRIER: mapped N/M communes (P%)`, P with one decimal."""
    total = matching.total
    pct = 100.0 * len(matching.mapped) / total if total else 0.0
    return f"{carrier}: mapped {len(matching.mapped)}/{total} communes ({pct:.1f}%)"
