"""Carriers' own address codes for our wards: each carrier's catalogue stored, matched, settled.

GHN and Viettel Post key addresses by their own ids for the three-level units in force before 1 July
2025; our addresses name two-level wards. `sync_units` reads a carrier's catalogue through its adapter
(`Carrier.units()`, over HTTP) and stores it whole, one row per carrier; `carriers.catalogue.match`
matches it to our wards (by name, through the official succession of old wards into new ones). What it
cannot match is listed by `coverage` with the reason, for an administrator to settle once
(`settle`); settlements are kept in their own table and outlive every re-sync.

The catalogues are reference data of the deployment, like the province and ward tables: not a
centre's. A carrier whose adapter offers no catalogue (`NotSupported`) takes our two-level codes as
they are; `carrier_ids` then answers an empty dict and the adapter sends our codes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from carriers.base import CarrierError, CarrierUnit, NotSupported, PermanentCarrierError, get_carrier
from carriers.catalogue import Matching, match
from core.clock import utcnow
from core.db import Base, UTCDateTime
from core.settings import Settings

log = logging.getLogger(__name__)


class CarrierCatalogue(Base):
    """One carrier's whole address catalogue as last synced: [[level, id, name, parent_id, code], ...]."""

    __tablename__ = "carrier_catalogue"

    carrier: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Loaded only to match it again (after a sync or a settlement): each use reads the digest.
    units: Mapped[list] = mapped_column(JSON, deferred=True)
    unit_count: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    synced_by: Mapped[str | None] = mapped_column(String(64))


class CarrierUnitSettlement(Base):
    """An administrator's decision: this ward of ours is that ward (by the carrier's own id) there."""

    __tablename__ = "carrier_unit_settlement"
    __table_args__ = (UniqueConstraint("carrier", "ward_code", name="uq_carrier_unit_settlement"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier: Mapped[str] = mapped_column(String(32))
    ward_code: Mapped[str] = mapped_column(String(8))
    carrier_ward_id: Mapped[str] = mapped_column(String(64))
    settled_by: Mapped[str | None] = mapped_column(String(64))
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UnmappableAddress(PermanentCarrierError):
    """Raised when a carrier has no id for one of our wards: the parcel is not sent with a wrong code."""

    def __init__(self, carrier: str, ward_code: str, ward_name: str, reason: str):
        super().__init__(f"{carrier}: no address code for {ward_name or ward_code} ({ward_code}): {reason}")
        self.carrier, self.ward_code, self.ward_name, self.reason = carrier, ward_code, ward_name, reason


@dataclass(frozen=True)
class UnmappedWard:
    code: str
    name: str
    province: str
    reason: str


@dataclass(frozen=True)
class Coverage:
    carrier: str
    mapped: int
    total: int
    unmapped: list[UnmappedWard]
    synced: bool = True          # False: no catalogue stored
    own_codes: bool = False      # True: the carrier takes our codes (offers no catalogue)

    @property
    def line(self) -> str:
        pct = 100.0 * self.mapped / self.total if self.total else 0.0
        return f"{self.carrier}: mapped {self.mapped}/{self.total} communes ({pct:.1f}%)"


# -- reading a catalogue --------------------------------------------------------------------------------

def fetch_units(settings: Settings, carrier: str) -> list[CarrierUnit]:
    """The carrier's catalogue through its adapter (HTTP to the carrier, or to its sandbox)."""
    adapter = get_carrier(carrier, settings)
    try:
        return adapter.units()
    finally:
        adapter.http.close()


def _digest(rows: list) -> str:
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def store_units(session: Session, carrier: str, units: list[CarrierUnit], by: str | None = None) -> CarrierCatalogue:
    """Replace the carrier's stored catalogue with `units`; settlements stay."""
    wards = sum(1 for u in units if u.level == "ward")
    if not wards:
        raise PermanentCarrierError(f"{carrier}: the catalogue holds no ward; keeping the one stored")
    rows = [[u.level, u.id, u.name, u.parent_id, u.code] for u in units]
    row = session.get(CarrierCatalogue, carrier) or CarrierCatalogue(carrier=carrier)
    row.units, row.unit_count, row.digest = rows, len(rows), _digest(rows)
    row.synced_at, row.synced_by = utcnow(), (by or "")[:64] or None
    session.add(row)
    session.flush()
    _own_codes.discard(carrier)
    return row


def sync_units(session: Session, settings: Settings, carrier: str, by: str | None = None) -> Coverage:
    """Read the carrier's catalogue (its `units()`), store it, and answer the coverage it gives."""
    store_units(session, carrier, fetch_units(settings, carrier), by)
    return coverage(session, carrier)


# Carriers found to offer no catalogue (their adapters raise NotSupported), in this process.
_own_codes: set[str] = set()
_sync_lock = threading.Lock()


def ensure_catalogue(session: Session, settings: Settings, carrier: str) -> CarrierCatalogue | None:
    """The carrier's stored catalogue, read from the carrier on first need. None when the carrier offers
    none (it takes our codes). Raises a CarrierError when the carrier cannot be read now."""
    row = session.get(CarrierCatalogue, carrier)
    if row is not None or carrier in _own_codes:
        return row
    with _sync_lock:
        try:
            units = fetch_units(settings, carrier)
        except NotSupported:
            _own_codes.add(carrier)
            return None
        try:
            with session.begin_nested():
                row = store_units(session, carrier, units, "first-need")
        except IntegrityError:  # another worker stored it meanwhile
            row = session.get(CarrierCatalogue, carrier)
    log.info("carrier catalogue synced on first need", extra={"carrier": carrier})
    return row


# -- matching -------------------------------------------------------------------------------------------

_matchings: dict[tuple, Matching] = {}
_match_lock = threading.Lock()


def _settlements(session: Session, carrier: str) -> dict[str, str]:
    rows = session.execute(select(CarrierUnitSettlement.ward_code, CarrierUnitSettlement.carrier_ward_id)
                           .where(CarrierUnitSettlement.carrier == carrier))
    return {code: ward_id for code, ward_id in rows}


def matching_of(session: Session, row: CarrierCatalogue) -> Matching:
    """The matching of a stored catalogue (with the carrier's settlements), computed once per process
    for each catalogue and set of settlements."""
    from carriers.sandbox import current_units, legacy_units, succession

    settled = _settlements(session, row.carrier)
    key = (row.carrier, row.digest, tuple(sorted(settled.items())))
    with _match_lock:
        found = _matchings.get(key)
        if found is None:
            units = [CarrierUnit(level, str(id_), name, parent, code) for level, id_, name, parent, code in row.units]
            found = match(units, legacy_units(), current_units(), succession(), settled)
            for old in [k for k in _matchings if k[0] == row.carrier]:
                del _matchings[old]
            _matchings[key] = found
    return found


def carrier_ids(session: Session, settings: Settings, carrier: str, ward_code: str, ward_name: str = "") -> dict[str, str]:
    """This carrier's own {"province", "district", "ward"} ids for our ward; {} when the carrier takes
    our codes. Raises UnmappableAddress when it has none, a CarrierError when its catalogue cannot be
    read."""
    row = ensure_catalogue(session, settings, carrier)
    if row is None:
        return {}
    result = matching_of(session, row)
    found = result.mapped.get(ward_code)
    if found is None:
        reason = result.unmapped.get(ward_code) or "phường/xã không có trong danh mục"
        raise UnmappableAddress(carrier, ward_code, ward_name, reason)
    return dict(found.ids)


def coverage(session: Session, carrier: str) -> Coverage:
    """How many of our wards the carrier's stored catalogue maps, and each one it does not, with why."""
    from core.models import Province, Ward

    row = session.get(CarrierCatalogue, carrier)
    wards = {w.code: w for w in session.scalars(select(Ward))}
    provinces = {p.code: p.name for p in session.scalars(select(Province))}
    if row is None:
        own = carrier in _own_codes
        return Coverage(carrier, len(wards) if own else 0, len(wards), [] if own else [
            UnmappedWard(w.code, w.name, provinces.get(w.province_code, ""), "chưa đồng bộ danh mục địa chỉ")
            for w in wards.values()], synced=False, own_codes=own)
    result = matching_of(session, row)
    unmapped = [UnmappedWard(code, wards[code].name if code in wards else "",
                             provinces.get(wards[code].province_code, "") if code in wards else "", reason)
                for code, reason in sorted(result.unmapped.items())]
    mapped = sum(1 for code in wards if code in result.mapped)
    return Coverage(carrier, mapped, len(wards), [u for u in unmapped if u.code in wards] or unmapped)


def settle(session: Session, carrier: str, ward_code: str, carrier_ward_id: str, by: str | None = None
           ) -> CarrierUnitSettlement:
    """Record that our ward `ward_code` is the carrier's ward `carrier_ward_id`; kept across syncs."""
    from core.models import Ward

    if session.get(Ward, ward_code) is None:
        raise ValueError(f"không có phường/xã mã {ward_code}")
    row = session.get(CarrierCatalogue, carrier)
    if row is None:
        raise ValueError(f"chưa đồng bộ danh mục địa chỉ của {carrier}")
    if not any(level == "ward" and str(id_) == carrier_ward_id for level, id_, *_ in row.units):
        raise ValueError(f"{carrier} không có phường/xã mã {carrier_ward_id}")
    existing = session.scalars(select(CarrierUnitSettlement).where(
        CarrierUnitSettlement.carrier == carrier, CarrierUnitSettlement.ward_code == ward_code)).first()
    existing = existing or CarrierUnitSettlement(carrier=carrier, ward_code=ward_code)
    existing.carrier_ward_id, existing.settled_by, existing.settled_at = carrier_ward_id, (by or "")[:64] or None, utcnow()
    session.add(existing)
    session.flush()
    return existing


def unsettle(session: Session, carrier: str, ward_code: str) -> bool:
    result = session.execute(delete(CarrierUnitSettlement).where(
        CarrierUnitSettlement.carrier == carrier, CarrierUnitSettlement.ward_code == ward_code))
    return bool(result.rowcount)


def mappable(session: Session, settings: Settings, carrier: str, ward_code: str) -> str | None:
    """None when the carrier can address this ward of ours, else why not (for the person asking)."""
    try:
        carrier_ids(session, settings, carrier, ward_code)
    except UnmappableAddress as e:
        return e.reason
    except CarrierError:
        # The catalogue cannot be read now: not the address's fault. The creation job asks again
        # (and retries while the carrier is unreachable); it never sends a wrong code either.
        return None
    return None
