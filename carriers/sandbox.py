"""Shared machinery of the carrier sandboxes: a parcel store whose parcels move along a timeline.

Each carrier's own `sandbox` module speaks that carrier's protocol on top of this store. Parcels move
through realistic statuses as (sandbox) time passes: time is the real clock times HCC_SANDBOX_SPEED,
plus an offset that `advance` moves forward, so tests step it deterministically instead of sleeping.
A parcel's scenario is picked by a marker in the order's note: `[sandbox:fail]` (one failed delivery,
then delivered), `[sandbox:return]` (failed, then returned to the sender), `[sandbox:short-cod]`
(delivered, but the postman collects 10.000 ₫ less).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from core.clock import utcnow
from core.settings import Setting, Settings, register_settings
from core.text import printable

log = logging.getLogger(__name__)

register_settings(
    Setting("HCC_SANDBOX_SPEED", "60", "How much faster than real time sandbox parcels move (3000: delivered in under a minute)."),
)

HOUR = 3600.0
# (hours after creation in carrier time, status)
TIMELINES: dict[str, list[tuple[float, str]]] = {
    "normal": [(2, "picked_up"), (5, "in_transit"), (20, "out_for_delivery"), (22, "delivered")],
    "fail": [(2, "picked_up"), (5, "in_transit"), (20, "out_for_delivery"), (22, "delivery_failed"),
             (44, "out_for_delivery"), (46, "delivered")],
    "return": [(2, "picked_up"), (5, "in_transit"), (20, "out_for_delivery"), (22, "delivery_failed"),
               (30, "return_to_sender"), (50, "returned")],
}
SHORT_COD = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS parcel (
    carrier TEXT NOT NULL, tracking_code TEXT PRIMARY KEY, order_number TEXT NOT NULL, created_at TEXT NOT NULL,
    payload TEXT NOT NULL, scenario TEXT NOT NULL, cod_amount INTEGER NOT NULL, fee INTEGER NOT NULL,
    cancelled_at TEXT, emitted INTEGER NOT NULL DEFAULT 0, UNIQUE (carrier, order_number));
CREATE TABLE IF NOT EXISTS event (
    id INTEGER PRIMARY KEY AUTOINCREMENT, carrier TEXT NOT NULL, tracking_code TEXT NOT NULL,
    order_number TEXT NOT NULL, status TEXT NOT NULL, at TEXT NOT NULL, cod_collected INTEGER,
    webhook_sent INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Parcel:
    carrier: str
    tracking_code: str
    order_number: str
    created_at: datetime
    payload: dict
    scenario: str
    cod_amount: int
    fee: int
    cancelled_at: datetime | None
    emitted: int


@dataclass(frozen=True)
class SandboxEvent:
    id: int
    carrier: str
    tracking_code: str
    order_number: str
    status: str
    at: datetime
    cod_collected: int | None


class ParcelExists(Exception):
    """Raised when an order number is used twice at one sandbox carrier."""

    def __init__(self, parcel: Parcel):
        super().__init__(parcel.tracking_code)
        self.parcel = parcel


_lock = threading.RLock()
_stores: dict[str, SandboxStore] = {}


class SandboxStore:
    """Sandbox state in its own SQLite file, so it survives restarts and is shared by threads."""

    def __init__(self, path: Path, speed: float = 60.0):
        self.path = path
        self.speed = speed
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _conn(self):
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return _Closing(conn)

    # -- time -------------------------------------------------------------------------------------------
    def offset(self) -> float:
        with self._conn() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key='offset'").fetchone()
        return float(row["value"]) if row else 0.0

    def now(self) -> datetime:
        return utcnow() + timedelta(seconds=self.offset())

    def advance(self, carrier_seconds: float) -> None:
        """Move sandbox time forward by this much carrier time (divided by the speed)."""
        with _lock, self._conn() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES ('offset', ?) ON CONFLICT(key) DO UPDATE "
                         "SET value = CAST(CAST(value AS REAL) + CAST(excluded.value AS REAL) AS TEXT)",
                         (str(carrier_seconds / self.speed),))

    # -- faults -----------------------------------------------------------------------------------------
    def set_fault(self, carrier: str, name: str, value: float) -> None:
        with _lock, self._conn() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                          (f"fault:{carrier}:{name}", str(value)))

    def fault(self, carrier: str, name: str) -> float:
        with self._conn() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key=?", (f"fault:{carrier}:{name}",)).fetchone()
        return float(row["value"]) if row else 0.0

    def take_down(self, carrier: str) -> bool:
        """True (and one less to go) when the carrier is set to be down for the next calls."""
        with _lock, self._conn() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key=?", (f"fault:{carrier}:down",)).fetchone()
            left = int(float(row["value"])) if row else 0
            if left <= 0:
                return False
            conn.execute("UPDATE meta SET value=? WHERE key=?", (str(left - 1), f"fault:{carrier}:down"))
            return True

    # -- parcels ----------------------------------------------------------------------------------------
    def create(self, carrier: str, tracking_code: str, order_number: str, payload: dict, *, note: str,
               cod_amount: int, fee: int) -> Parcel:
        scenario = "normal"
        for name in ("fail", "return", "short-cod"):
            if f"[sandbox:{name}]" in (note or ""):
                scenario = name
        with _lock, self._conn() as conn:
            existing = self._by_order(conn, carrier, order_number)
            if existing is not None:
                raise ParcelExists(existing)
            conn.execute("INSERT INTO parcel(carrier, tracking_code, order_number, created_at, payload, scenario, "
                         "cod_amount, fee) VALUES (?,?,?,?,?,?,?,?)",
                         (carrier, tracking_code, order_number, self.now().isoformat(),
                          json.dumps(payload, ensure_ascii=False), scenario, cod_amount, fee))
            conn.execute("INSERT INTO event(carrier, tracking_code, order_number, status, at) VALUES (?,?,?,?,?)",
                         (carrier, tracking_code, order_number, "pending", self.now().isoformat()))
            return self._by_order(conn, carrier, order_number)

    @staticmethod
    def _parcel(row) -> Parcel:
        return Parcel(carrier=row["carrier"], tracking_code=row["tracking_code"], order_number=row["order_number"],
                      created_at=datetime.fromisoformat(row["created_at"]), payload=json.loads(row["payload"]),
                      scenario=row["scenario"], cod_amount=row["cod_amount"], fee=row["fee"],
                      cancelled_at=datetime.fromisoformat(row["cancelled_at"]) if row["cancelled_at"] else None,
                      emitted=row["emitted"])

    def _by_order(self, conn, carrier: str, order_number: str) -> Parcel | None:
        row = conn.execute("SELECT * FROM parcel WHERE carrier=? AND order_number=?", (carrier, order_number)).fetchone()
        return self._parcel(row) if row else None

    def by_order(self, carrier: str, order_number: str) -> Parcel | None:
        with self._conn() as conn:
            return self._by_order(conn, carrier, order_number)

    def get(self, carrier: str, tracking_code: str) -> Parcel | None:
        with self._conn() as conn:
            row = conn.execute("SELECT * FROM parcel WHERE carrier=? AND tracking_code=?",
                               (carrier, tracking_code)).fetchone()
        return self._parcel(row) if row else None

    def count(self, carrier: str, order_number: str) -> int:
        with self._conn() as conn:
            return conn.execute("SELECT COUNT(*) FROM parcel WHERE carrier=? AND order_number=?",
                                (carrier, order_number)).fetchone()[0]

    def cancel(self, carrier: str, tracking_code: str) -> bool:
        """Cancel a parcel not yet picked up; False when it is too late (or unknown)."""
        self.tick(carrier)
        with _lock, self._conn() as conn:
            parcel = conn.execute("SELECT * FROM parcel WHERE carrier=? AND tracking_code=?",
                                  (carrier, tracking_code)).fetchone()
            if parcel is None or parcel["cancelled_at"] or parcel["emitted"] > 0:
                return False
            now = self.now().isoformat()
            conn.execute("UPDATE parcel SET cancelled_at=? WHERE tracking_code=?", (now, tracking_code))
            conn.execute("INSERT INTO event(carrier, tracking_code, order_number, status, at) VALUES (?,?,?,?,?)",
                         (carrier, tracking_code, parcel["order_number"], "cancelled", now))
            return True

    def tick(self, carrier: str) -> int:
        """Write the events that sandbox time has reached for every moving parcel; returns how many."""
        now = self.now()
        written = 0
        with _lock, self._conn() as conn:
            rows = conn.execute("SELECT * FROM parcel WHERE carrier=? AND cancelled_at IS NULL", (carrier,)).fetchall()
            for row in rows:
                parcel = self._parcel(row)
                timeline = TIMELINES.get(parcel.scenario, TIMELINES["normal"])
                for index in range(parcel.emitted, len(timeline)):
                    hours, status = timeline[index]
                    at = parcel.created_at + timedelta(seconds=hours * HOUR / self.speed)
                    if at > now:
                        break
                    collected = None
                    if status == "delivered":
                        collected = parcel.cod_amount - (SHORT_COD if parcel.scenario == "short-cod" else 0)
                        collected = max(collected, 0)
                    conn.execute("INSERT INTO event(carrier, tracking_code, order_number, status, at, cod_collected) "
                                 "VALUES (?,?,?,?,?,?)", (carrier, parcel.tracking_code, parcel.order_number, status,
                                                          at.isoformat(), collected))
                    conn.execute("UPDATE parcel SET emitted=? WHERE tracking_code=?", (index + 1, parcel.tracking_code))
                    written += 1
        return written

    @staticmethod
    def _event(row) -> SandboxEvent:
        return SandboxEvent(id=row["id"], carrier=row["carrier"], tracking_code=row["tracking_code"],
                            order_number=row["order_number"], status=row["status"],
                            at=datetime.fromisoformat(row["at"]), cod_collected=row["cod_collected"])

    def events_of(self, carrier: str, tracking_code: str) -> list[SandboxEvent]:
        self.tick(carrier)
        with self._conn() as conn:
            rows = conn.execute("SELECT * FROM event WHERE carrier=? AND tracking_code=? ORDER BY id",
                                (carrier, tracking_code)).fetchall()
        return [self._event(r) for r in rows]

    def feed(self, carrier: str, last_id: int, limit: int = 100) -> list[SandboxEvent]:
        self.tick(carrier)
        with self._conn() as conn:
            rows = conn.execute("SELECT * FROM event WHERE carrier=? AND id>? ORDER BY id LIMIT ?",
                                (carrier, last_id, limit)).fetchall()
        return [self._event(r) for r in rows]

    def unsent_webhooks(self, carrier: str) -> list[SandboxEvent]:
        self.tick(carrier)
        with self._conn() as conn:
            rows = conn.execute("SELECT * FROM event WHERE carrier=? AND webhook_sent=0 ORDER BY id",
                                (carrier,)).fetchall()
        return [self._event(r) for r in rows]

    def mark_sent(self, event_id: int) -> None:
        with _lock, self._conn() as conn:
            conn.execute("UPDATE event SET webhook_sent=1 WHERE id=?", (event_id,))


class _Closing:
    """sqlite3's context manager commits but does not close; this one closes too (no ResourceWarning)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc) -> None:
        with closing(self.conn):
            pass


def store_for(settings: Settings) -> SandboxStore:
    path = Path(settings.instance_dir) / "sandbox" / "carriers.sqlite3"
    speed = float(settings.get("HCC_SANDBOX_SPEED") or 60)
    key = str(path)
    with _lock:
        store = _stores.get(key)
        if store is None or not path.exists():
            store = _stores[key] = SandboxStore(path, speed)
        store.speed = speed
        return store


# Centres' own carrier accounts the sandboxes accept besides the deployment's. Carriers do not read
# the database, so the application installs the source (postal does, from its carrier accounts): it
# gives a carrier's active accounts as (customer code, token) pairs, the code empty when the account
# keeps the deployment's. Without one, the sandboxes accept the deployment's credentials only.
AccountSource = Callable[[Settings, str], list[tuple[str, str]]]
_account_source: list[AccountSource] = []


def set_account_source(source: AccountSource | None) -> None:
    """Install (or, with None, remove) where the sandboxes learn the centres' carrier accounts."""
    _account_source[:] = [source] if source is not None else []


def account_credentials(settings: Settings, carrier: str) -> list[tuple[str, str]]:
    """(customer code, token) of every active account a centre holds at `carrier`, for the sandbox
    to accept as it accepts the deployment's own credentials. Never raises: an account it cannot read
    is simply not accepted."""
    if not _account_source:
        return []
    try:
        return [(c or "", t) for c, t in _account_source[0](settings, carrier) if t]
    except Exception:
        log.warning("sandbox cannot read the carrier accounts", exc_info=True, extra={"carrier": carrier})
        return []


FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


def _fonts() -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    return "DejaVuSans", "DejaVuSans-Bold"


def render_label(carrier_title: str, tracking_code: str, *, order_number: str, receiver: str, phone: str,
                 address: str, cod_amount: int, weight_grams: int) -> bytes:
    """A 100 x 150 mm shipping label like the carrier's own, with a barcode of the tracking code."""
    import io

    from reportlab.graphics.barcode import code128
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    regular, bold = _fonts()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(100 * mm, 150 * mm))
    c.setTitle(printable(f"{carrier_title} {tracking_code}"))
    c.setFont(bold, 14)
    c.drawString(6 * mm, 140 * mm, printable(carrier_title))
    barcode = code128.Code128(tracking_code, barHeight=16 * mm, barWidth=0.35 * mm)
    barcode.drawOn(c, 4 * mm, 118 * mm)
    c.setFont(bold, 12)
    c.drawString(6 * mm, 112 * mm, printable(tracking_code))
    c.setFont(regular, 9)
    y = 102 * mm
    from reportlab.lib.utils import simpleSplit

    # Canvas strings parse no markup; what a client sent is drawn as typed, less any control characters.
    lines = [printable(f"Mã đơn: {order_number}"), printable(f"Người nhận: {receiver}"),
             printable(f"Điện thoại: {phone}"), *simpleSplit(printable(f"Địa chỉ: {address}"), regular, 9, 88 * mm)[:4],
             f"Khối lượng: {weight_grams} g",
             f"Thu hộ (COD): {cod_amount:,} đ".replace(",", ".")]
    for line in lines:
        c.drawString(6 * mm, y, line)
        y -= 6 * mm
    c.showPage()
    c.save()
    return buf.getvalue()


@dataclass
class Reply:
    """What a sandbox answers: status, JSON-able body or bytes, content type."""

    status: int
    body: object
    content_type: str = "application/json"


@dataclass
class Call:
    """One request to a sandbox, as plain data (the api layer builds it from the HTTP request)."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    form: dict[str, str]
    json: object


def sandbox_fee(weight_grams: int, cod_amount: int) -> int:
    """A plausible tariff: 22.000 ₫ for the first 500 g, 4.000 ₫ per further 500 g, 0.5% of COD (min 5.000 ₫)."""
    extra = max(0, (weight_grams - 1) // 500)
    cod_fee = max(5000, cod_amount // 200) if cod_amount else 0
    return 22_000 + 4_000 * extra + cod_fee


def new_tracking_code(prefix: str, suffix: str = "") -> str:
    import secrets

    digits = "".join(secrets.choice("0123456789") for _ in range(9))
    return f"{prefix}{digits}{suffix}"


def post_webhooks(store: SandboxStore, carrier: str, url: str, build, http=None) -> int:
    """POST each undelivered event in order. A refusal (4xx) is given up like a real carrier does; a
    server error or an unreachable receiver stops the round, and the rest goes out next time."""
    import logging

    import requests

    log = logging.getLogger(__name__)
    own = http is None
    http = http or requests.Session()
    sent = 0
    try:
        for event in store.unsent_webhooks(carrier):
            try:
                resp = http.post(url, json=build(event), timeout=10)
            except requests.RequestException:
                log.warning("sandbox webhook not delivered", extra={"carrier": carrier, "event": event.id})
                break
            if resp.status_code >= 500:
                break
            store.mark_sent(event.id)
            sent += 1
    finally:
        if own:
            http.close()
    return sent


# -- reference address units the sandboxes present ---------------------------------------------------
# Carriers (GHN, Viettel Post) still key addresses by the three-level units in force before 1 July 2025.
# Their sandboxes present those units, in each carrier's own shape and id scheme, from the maintained
# `vietnamadminunits` package (63-province dataset with GSO codes, and its 2025 conversion tables);
# our own two-level units come from `vietnam-provinces`, as in core/addresses.py.


@dataclass(frozen=True)
class AdminUnit:
    """An official administrative unit: its GSO code, name, and the code of the unit above it."""

    level: str                # "province" | "district" | "ward"
    code: str                 # GSO code: 2 digits (province), 3 (district), 5 (ward)
    name: str                 # full official name, "Phường Phúc Xá"
    parent_code: str | None = None


def _vau_data() -> Path:
    """The data folder of `vietnamadminunits`, found without importing the package (its import pulls in
    geocoding libraries we do not need: only its dataset and conversion tables are read)."""
    import importlib.util

    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the vietnamadminunits package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _vau_rows(sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{_vau_data() / 'dataset.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    with closing(conn):
        return conn.execute(sql).fetchall()


_units_cache: dict[str, object] = {}


def legacy_units() -> list[AdminUnit]:
    """The three-level units in force until 30 June 2025 (63 provinces, their districts and wards),
    with GSO codes and official names. Districts without wards (island districts) are listed too."""
    cached = _units_cache.get("legacy")
    if cached is None:
        rows = _vau_rows("SELECT province, provinceCode, district, districtCode, ward, wardCode "
                         "FROM admin_units_legacy ORDER BY provinceCode, districtCode, wardCode")
        seen: set[tuple[str, str]] = set()
        units: list[AdminUnit] = []
        for r in rows:
            for level, code, name, parent in (("province", r["provinceCode"], r["province"], None),
                                              ("district", r["districtCode"], r["district"], r["provinceCode"]),
                                              ("ward", r["wardCode"], r["ward"], r["districtCode"])):
                if code and (level, code) not in seen:
                    seen.add((level, code))
                    units.append(AdminUnit(level, code, name, parent))
        cached = _units_cache["legacy"] = units
    return list(cached)  # type: ignore[arg-type]


def current_units() -> list[AdminUnit]:
    """Our two-level units (34 provinces, their communes and wards) from `vietnam-provinces`, the
    reference data core/addresses.py loads."""
    cached = _units_cache.get("current")
    if cached is None:
        from vietnam_provinces import Province as PkgProvince
        from vietnam_provinces import Ward as PkgWard

        units = [AdminUnit("province", f"{int(p.code):02d}", p.name) for p in PkgProvince.iter_all()]
        units += [AdminUnit("ward", f"{int(w.code):05d}", w.name, f"{int(w.province_code):02d}")
                  for w in PkgWard.iter_all()]
        cached = _units_cache["current"] = units
    return list(cached)  # type: ignore[arg-type]


def _key(name: str) -> str:
    """The package's unit key: folded name, letters and digits only ('Phường Ba Đình' -> 'phuongbadinh')."""
    import re
    import unicodedata

    text = name.replace("đ", "d").replace("Đ", "D")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return re.sub(r"[^a-z0-9]", "", text.lower())


def succession() -> dict[str, list[str]]:
    """Our ward code -> the GSO codes of the pre-reform wards it was formed from (the 2025 resolutions
    of the Standing Committee of the National Assembly, as tabulated by `vietnamadminunits`), the
    seat first: the old ward whose code the new ward kept, then the others in the order the
    resolution names them; an old ward divided between several new ones comes after the wards merged
    whole, the new ward the package names as its default first. A new ward formed from no old ward
    (an island district that had none) has an empty list."""
    cached = _units_cache.get("succession")
    if cached is not None:
        return dict(cached)  # type: ignore[call-overload]
    import json

    tables = json.loads((_vau_data() / "converter_2025.json").read_text(encoding="utf-8"))
    old_code: dict[str, str] = {}
    for r in _vau_rows("SELECT provinceKey, districtKey, wardKey, wardCode FROM admin_units_legacy"):
        if r["wardCode"]:
            old_code[f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey']}"] = r["wardCode"]
    # The package's new wards, to ours: by code where the name agrees, else by name in the province.
    ours = {u.code: u for u in current_units() if u.level == "ward"}
    ours_by_name = {(u.parent_code, _key(u.name)): u.code for u in ours.values()}
    new_code: dict[tuple[str, str], str] = {}
    for r in _vau_rows("SELECT provinceKey, provinceCode, wardKey, ward, wardCode FROM admin_units"):
        mine = ours.get(r["wardCode"])
        if mine is not None and _key(mine.name) == _key(r["ward"]):
            new_code[(r["provinceKey"], r["wardKey"])] = mine.code
        elif (r["provinceCode"], _key(r["ward"])) in ours_by_name:
            new_code[(r["provinceKey"], r["wardKey"])] = ours_by_name[(r["provinceCode"], _key(r["ward"]))]
    result: dict[str, list[str]] = {code: [] for code in ours}
    whole: dict[str, list[str]] = {}
    for province_key, wards in tables["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward_key, olds in wards.items():
            code = new_code.get((province_key, ward_key))
            if code:
                whole.setdefault(code, []).extend(old_code[o] for o in olds if o in old_code)
    split_default: dict[str, list[str]] = {}
    split_other: dict[str, list[str]] = {}
    for province_key, olds in tables["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, news in olds.items():
            if old not in old_code:
                continue
            for new in news:
                code = new_code.get((province_key, new.get("newWardKey", "")))
                if code:
                    target = split_default if new.get("isDefaultNewWard") else split_other
                    target.setdefault(code, []).append(old_code[old])
    for code in result:
        olds = whole.get(code, []) + split_default.get(code, []) + split_other.get(code, [])
        seat = [code] if code in olds else []
        result[code] = list(dict.fromkeys(seat + olds))
    _units_cache["succession"] = result
    return dict(result)
