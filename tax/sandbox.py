"""The tax authority as a T-VAN relays it, for the embedded default and tests (served under /sandbox/tax).

It takes TDiep messages (`receive`) and answers each at once with the 999 technical acknowledgement: TTTNhan 0,
or 1 with DSLDo/LDo(MLoi, MTLoi) when the envelope, its size, its type or its data's XSD is wrong. A message
it has already taken (same MTDiep) is recognised: it answers with the acknowledgement it gave then, and
counts a repeat, never a second message. Then, as the tax authority would, it checks the data (signature, tax
code known, certificate registered) and keeps its notice (110 and 111 for a registration, 212 for a
receipt's data…) for `lookup` (TraCuuThongDiep), accepting (TTXNCQT 1) or rejecting (2 with DSLDKCNhan/
LDo(MLoi, MTa)).

Test hooks: `set_faults` (fail one request in N — alternately before and after taking the message, so both a
lost request and a lost answer happen — and slow answers), `set_unknown_taxpayers` (tax codes it rejects as
unknown), `received` (what it has taken, with how many times each came).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from core.clock import utcnow
from core.settings import Settings
from tax import codes, envelope
from tax.envelope import Envelope, EnvelopeError, Reason

SANDBOX_CODE = codes.TAX_AUTHORITY
_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    mtdiep TEXT PRIMARY KEY, mltdiep INTEGER NOT NULL, mst TEXT NOT NULL, received_at TEXT NOT NULL,
    body BLOB NOT NULL, ack BLOB NOT NULL, deliveries INTEGER NOT NULL DEFAULT 1, accepted INTEGER);
CREATE TABLE IF NOT EXISTS answer (
    id INTEGER PRIMARY KEY AUTOINCREMENT, mtdtchieu TEXT NOT NULL, mltdiep INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS certificate (mst TEXT NOT NULL, serial TEXT NOT NULL, PRIMARY KEY (mst, serial));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_lock = threading.RLock()
_stores: dict[str, TaxSandbox] = {}


class SandboxFault(Exception):
    """Raised by `receive`/`lookup` when a fault is injected: the HTTP side answers 503."""


@dataclass(frozen=True)
class Received:
    mtdiep: str
    mltdiep: int
    mst: str
    received_at: str
    deliveries: int
    accepted: bool | None
    reference: str | None  # for a receipt's data: template, symbol and number read from the signed data


class TaxSandbox:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _conn(self):
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return _Closing(conn)

    # -- settings of the sandbox ------------------------------------------------------------------------------
    def _meta(self, key: str, default: str = "") -> str:
        with self._conn() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row["value"] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        with _lock, self._conn() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                         (key, value))

    def set_faults(self, *, fail_every: int | None = None, slow: float | None = None) -> dict:
        """`fail_every` N: one request in N answers 503 (0: none); `slow`: seconds to wait before answering."""
        if fail_every is not None:
            self._set_meta("fault:fail_every", str(max(0, int(fail_every))))
            self._set_meta("fault:count", "0")
        if slow is not None:
            self._set_meta("fault:slow", str(max(0.0, float(slow))))
        return self.faults()

    def faults(self) -> dict:
        return {"fail_every": int(self._meta("fault:fail_every", "0")), "slow": float(self._meta("fault:slow", "0"))}

    def set_unknown_taxpayers(self, tax_codes: list[str]) -> None:
        self._set_meta("unknown_mst", json.dumps(sorted(set(tax_codes))))

    def unknown_taxpayers(self) -> set[str]:
        return set(json.loads(self._meta("unknown_mst", "[]")))

    def _fault_now(self) -> str | None:
        """None, or 'before' / 'after' (taking the message) for the request that is to fail."""
        slow = float(self._meta("fault:slow", "0"))
        if slow:
            time.sleep(slow)
        every = int(self._meta("fault:fail_every", "0"))
        if not every:
            return None
        with _lock, self._conn() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES ('fault:count', '1') ON CONFLICT(key) DO UPDATE "
                         "SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)")
            count = int(conn.execute("SELECT value FROM meta WHERE key='fault:count'").fetchone()["value"])
        if count % every:
            return None
        return "before" if (count // every) % 2 else "after"

    # -- the protocol -----------------------------------------------------------------------------------------
    def receive(self, raw: bytes) -> bytes:
        """Take one TDiep; the answer is its 999 acknowledgement. Raises SandboxFault for an injected failure."""
        fault = self._fault_now()
        if fault == "before":
            raise SandboxFault("injected: request lost before the tax authority took it")
        ack = self._receive(raw)
        if fault == "after":
            raise SandboxFault("injected: answer lost after the tax authority took the message")
        return ack

    def _receive(self, raw: bytes) -> bytes:
        try:
            env = envelope.parse(raw)
        except EnvelopeError as e:
            mtdiep, sender = _loose(raw)
            return envelope.build_ack(None, mngui=SANDBOX_CODE, reasons=[Reason(e.code, codes.ERRORS[e.code])],
                                      mtdiep_of=mtdiep, mnnhan=sender)
        with _lock, self._conn() as conn:
            row = conn.execute("SELECT ack FROM message WHERE mtdiep=?", (env.mtdiep,)).fetchone()
            if row is not None:
                conn.execute("UPDATE message SET deliveries = deliveries + 1 WHERE mtdiep=?", (env.mtdiep,))
                return bytes(row["ack"])
            problems = self._technical_problems(env)
            ack = envelope.build_ack(env, mngui=SANDBOX_CODE, reasons=problems)
            conn.execute("INSERT INTO message(mtdiep, mltdiep, mst, received_at, body, ack, accepted) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (env.mtdiep, env.mltdiep, env.mst, utcnow().isoformat(), raw, ack, 0 if problems else None))
        if not problems:
            self._decide(env)
        return ack

    def _technical_problems(self, env: Envelope) -> list[Reason]:
        def r(code: str, detail: str = "") -> Reason:
            return Reason(code, codes.ERRORS[code] + (f": {detail}" if detail else ""))

        if env.mnnhan != codes.TAX_AUTHORITY:
            return [r("10005", env.mnnhan)]
        if env.mltdiep not in codes.ANSWERS:
            return [r("10006", str(env.mltdiep))]
        children = list(env.dlieu)
        if len(children) != 1 or env.sluong != 1:
            return [r("10002", "một thông điệp mang đúng một dữ liệu (SLuong 1)")]
        if env.mltdiep == codes.RECEIPT_DATA:
            try:
                from receipts.xmldata import validate
            except ImportError:  # an older receipts package without its XSD: nothing to check against
                return []
            errors = validate(children[0])
            if errors:
                return [r("20001", e) for e in errors[:5]]
        return []

    def _decide(self, env: Envelope) -> None:
        """The tax authority's notices for a message it took: kept for `lookup`."""
        data = env.dlieu[0]
        reasons, serials = self._business_problems(env, data)
        notices: list[tuple[int, bool]] = []
        if env.mltdiep == codes.REGISTRATION:
            notices = [(codes.REGISTRATION_RECEIVED, True), (codes.REGISTRATION_RESULT, not reasons)]
        else:
            notices = [(codes.FINAL_RESULT[env.mltdiep], not reasons)]
        with _lock, self._conn() as conn:
            for mltdiep, accepted in notices:
                body = envelope.build_notice(env, mngui=SANDBOX_CODE, mltdiep=mltdiep, accepted=accepted,
                                             reasons=[] if accepted else reasons)
                conn.execute("INSERT INTO answer(mtdtchieu, mltdiep, body) VALUES (?, ?, ?)", (env.mtdiep, mltdiep, body))
            conn.execute("UPDATE message SET accepted=? WHERE mtdiep=?", (0 if reasons else 1, env.mtdiep))
            if env.mltdiep == codes.REGISTRATION and not reasons:
                for serial in serials:
                    conn.execute("INSERT OR IGNORE INTO certificate(mst, serial) VALUES (?, ?)", (env.mst, serial))

    def _business_problems(self, env: Envelope, data: etree._Element) -> tuple[list[Reason], list[str]]:
        from core import xmldsig

        def r(code: str, detail: str = "") -> Reason:
            return Reason(code, codes.ERRORS[code] + (f": {detail}" if detail else ""))

        if env.mst in self.unknown_taxpayers():
            return [r("30001", env.mst)], []
        cert_pem = _signing_cert_pem(data)
        if cert_pem is None:
            return [r("20002", "không có chứng thư số (X509Certificate)")], []
        try:
            signed = xmldsig.verify(etree.tostring(data), cert_pem)
        except xmldsig.XmlSignatureError as e:
            return [r("20002", str(e)[:300])], []
        # Fields are read from what the signature covers, never from the unsigned wrapping.
        owner = _owner_mst(env.mltdiep, signed)
        if owner is not None and owner != env.mst:
            return [r("20003", f"{owner} ≠ {env.mst}")], []
        serial = _serial(cert_pem)
        if env.mltdiep == codes.REGISTRATION:
            serials = [(el.text or "").strip().upper() for el in signed.iter("SSCKS")]
            if serial not in serials:
                return [r("30003", f"chứng thư ký tờ khai ({serial}) không có trong danh sách đăng ký")], []
            return [], serials
        registered = self._serials(env.mst)
        if registered and serial not in registered:
            return [r("30003", serial)], []
        return [], []

    def _serials(self, mst: str) -> set[str]:
        with self._conn() as conn:
            return {row["serial"] for row in conn.execute("SELECT serial FROM certificate WHERE mst=?", (mst,))}

    def lookup(self, raw_query: bytes) -> bytes:
        """TraCuuThongDiep: the acknowledgement and notices of one MTDiep, as KetQuaTraCuu."""
        from tax.channel import build_lookup_result

        if self._fault_now():
            raise SandboxFault("injected: lookup failed")
        try:
            mtdiep = (etree.fromstring(raw_query, etree.XMLParser(resolve_entities=False, no_network=True))
                      .findtext("MTDiep") or "").strip()
        except etree.XMLSyntaxError:
            return build_lookup_result([], code="1", text="Yêu cầu tra cứu không đúng định dạng")
        with self._conn() as conn:
            row = conn.execute("SELECT ack FROM message WHERE mtdiep=?", (mtdiep,)).fetchone()
            if row is None:
                return build_lookup_result([], code="2", text="Không tìm thấy thông điệp")
            answers = [bytes(a["body"]) for a in conn.execute(
                "SELECT body FROM answer WHERE mtdtchieu=? ORDER BY id", (mtdiep,))]
        return build_lookup_result([bytes(row["ack"]), *answers])

    def received(self, mltdiep: int | None = None) -> list[Received]:
        with self._conn() as conn:
            rows = conn.execute("SELECT mtdiep, mltdiep, mst, received_at, deliveries, accepted, body FROM message "
                                "WHERE ? IS NULL OR mltdiep = ? ORDER BY received_at", (mltdiep, mltdiep)).fetchall()
        return [Received(mtdiep=r["mtdiep"], mltdiep=r["mltdiep"], mst=r["mst"], received_at=r["received_at"],
                         deliveries=r["deliveries"], accepted=None if r["accepted"] is None else bool(r["accepted"]),
                         reference=_reference(bytes(r["body"])) if r["mltdiep"] == codes.RECEIPT_DATA else None)
                for r in rows]

    def message(self, mtdiep: str) -> bytes | None:
        with self._conn() as conn:
            row = conn.execute("SELECT body FROM message WHERE mtdiep=?", (mtdiep,)).fetchone()
        return bytes(row["body"]) if row else None


def _owner_mst(mltdiep: int, signed: etree._Element) -> str | None:
    """The tax code of whoever the signed data belongs to: the unit of a receipt, the taxpayer of a form."""
    for path in ("NDBLai/DVThu/MST", "DLBLai/NDBLai/DVThu/MST", "TTChung/MST"):
        found = signed.find(path)
        if found is not None and found.text:
            return found.text.strip()
    return None


def _reference(raw: bytes) -> str | None:
    """Template, symbol and number of the receipt a data message carries (read as the receipts package reads them)."""
    from receipts.xmldata import XmlReceiptError, read_fields

    try:
        fields = read_fields(envelope.parse(raw).dlieu[0])
    except (EnvelopeError, IndexError, XmlReceiptError):
        return None
    return " ".join(fields.get(k) or "" for k in ("template", "symbol", "number"))


def _signing_cert_pem(data: etree._Element) -> bytes | None:
    from core.xmldsig import DS

    found = data.find(f".//{{{DS}}}X509Certificate")
    if found is None or not (found.text or "").strip():
        return None
    body = "".join(found.text.split())
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


def _serial(cert_pem: bytes) -> str:
    from cryptography import x509

    return format(x509.load_pem_x509_certificate(cert_pem).serial_number, "X")


def _loose(raw: bytes) -> tuple[str | None, str | None]:
    """MTDiep and MNGui of a message that did not parse, as far as they can be read (for the acknowledgement)."""
    try:
        root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
        return ((root.findtext("TTChung/MTDiep") or "").strip() or None,
                (root.findtext("TTChung/MNGui") or "").strip() or None)
    except Exception:  # not XML at all: the acknowledgement names no message
        return None, None


class _Closing:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc) -> None:
        with closing(self.conn):
            pass


def sandbox_for(settings: Settings) -> TaxSandbox:
    path = Path(settings.instance_dir) / "sandbox" / "tax.sqlite3"
    key = str(path)
    with _lock:
        store = _stores.get(key)
        if store is None or not path.exists():
            store = _stores[key] = TaxSandbox(path)
        return store
