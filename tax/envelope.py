"""The tax authority's message envelope `TDiep` = `TTChung` + `DLieu` (Decision 1450/QĐ-TCT §I, kept by 1271):
build and parse it, its acknowledgement (999) and the tax authority's notices. Pure functions over lxml.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from core.clock import to_local, utcnow
from tax import codes

_MTDIEP = re.compile(r"^[A-Za-z0-9]{1,14}[0-9A-F]{32}$")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False, huge_tree=False)


class EnvelopeError(ValueError):
    """Raised when bytes are not a well-formed TDiep; `code` is the error code of tax.codes.ERRORS."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {codes.ERRORS.get(code, '')}{' - ' + detail if detail else ''}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Reason:
    """One reason of a refusal or rejection: (MLoi, MTLoi/MTa)."""

    code: str
    text: str

    def __str__(self) -> str:
        return f"{self.code}: {self.text}" if self.code else self.text


@dataclass
class Envelope:
    pban: str
    mngui: str
    mnnhan: str
    mltdiep: int
    mtdiep: str
    mtdtchieu: str | None
    mst: str
    sluong: int
    dlieu: etree._Element
    raw: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class Answer:
    """What an acknowledgement or a notice says: accepted or not, and why not."""

    mltdiep: int
    mtdiep: str
    answers: str | None  # the MTDiep it answers
    accepted: bool
    reasons: list[Reason]


def new_mtdiep(sender_code: str) -> str:
    """The sender's code followed by the 32 upper-case hex digits of a fresh UUID (1450 §I.1)."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,14}", sender_code or ""):
        raise ValueError(f"mã nơi gửi {sender_code!r} phải có 1 đến 14 chữ cái hoặc chữ số")
    return sender_code + uuid.uuid4().hex.upper()


def is_mtdiep(value: str | None) -> bool:
    return bool(value) and _MTDIEP.match(value) is not None


def _sub(parent, tag: str, text=None):
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def build(*, mngui: str, mltdiep: int, mst: str, dlieu: etree._Element | list[etree._Element] | bytes,
          mtdiep: str | None = None, mtdtchieu: str | None = None, mnnhan: str = codes.TAX_AUTHORITY,
          sluong: int = 1, pban: str = codes.PBAN) -> bytes:
    """A TDiep as UTF-8 bytes; raises EnvelopeError 10004 when it is over 2 MB."""
    root = etree.Element("TDiep")
    head = _sub(root, "TTChung")
    _sub(head, "PBan", pban)
    _sub(head, "MNGui", mngui)
    _sub(head, "MNNhan", mnnhan)
    _sub(head, "MLTDiep", int(mltdiep))
    _sub(head, "MTDiep", mtdiep or new_mtdiep(mngui))
    _sub(head, "MTDTChieu", mtdtchieu) if mtdtchieu else _sub(head, "MTDTChieu")
    _sub(head, "MST", mst)
    _sub(head, "SLuong", int(sluong))
    data = _sub(root, "DLieu")
    if isinstance(dlieu, bytes):
        dlieu = etree.fromstring(dlieu, _PARSER)
    for el in dlieu if isinstance(dlieu, list) else [dlieu]:
        data.append(el)
    out = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if len(out) > codes.MAX_MESSAGE_BYTES:
        raise EnvelopeError("10004", f"{len(out)} byte")
    return out


def _text(el, path: str) -> str | None:
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def parse(data: bytes) -> Envelope:
    """Read a TDiep; raises EnvelopeError naming what is wrong (size, XML, TTChung, MTDiep)."""
    if len(data) > codes.MAX_MESSAGE_BYTES:
        raise EnvelopeError("10004", f"{len(data)} byte")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as e:
        raise EnvelopeError("10001", str(e)) from e
    if root.tag != "TDiep":
        raise EnvelopeError("10001", f"phần tử gốc là {root.tag!r}, không phải TDiep")
    head = root.find("TTChung")
    dlieu = root.find("DLieu")
    if head is None or dlieu is None:
        raise EnvelopeError("10002", "thiếu TTChung hoặc DLieu")
    missing = [t for t in ("PBan", "MNGui", "MNNhan", "MLTDiep", "MTDiep", "MST", "SLuong") if not _text(head, t)]
    if missing:
        raise EnvelopeError("10002", "thiếu " + ", ".join(missing))
    mtdiep = _text(head, "MTDiep")
    mngui = _text(head, "MNGui")
    if not is_mtdiep(mtdiep) or not mtdiep.startswith(mngui):
        raise EnvelopeError("10003", mtdiep or "")
    try:
        mltdiep, sluong = int(_text(head, "MLTDiep")), int(_text(head, "SLuong"))
    except ValueError as e:
        raise EnvelopeError("10002", "MLTDiep/SLuong không phải số") from e
    return Envelope(pban=_text(head, "PBan"), mngui=mngui, mnnhan=_text(head, "MNNhan"), mltdiep=mltdiep,
                    mtdiep=mtdiep, mtdtchieu=_text(head, "MTDTChieu"), mst=_text(head, "MST"), sluong=sluong,
                    dlieu=dlieu, raw=data)


def _iso(when: datetime | None) -> str:
    return to_local(when or utcnow()).strftime("%Y-%m-%dT%H:%M:%S")


def build_ack(original: Envelope | None, *, mngui: str, reasons: list[Reason] = (), mtdiep_of: str | None = None,
              mst: str | None = None, received_at: datetime | None = None, mnnhan: str | None = None) -> bytes:
    """The 999 technical acknowledgement of a message: TTTNhan 0, or 1 with DSLDo/LDo(MLoi, MTLoi)."""
    answered = original.mtdiep if original is not None else mtdiep_of
    tbao = etree.Element("TBao")
    _sub(tbao, "MTDiep", answered or "")
    _sub(tbao, "MNGui", original.mngui if original is not None else "")
    _sub(tbao, "NNhan", _iso(received_at))
    _sub(tbao, "TTTNhan", codes.TTTNHAN_ERROR if reasons else codes.TTTNHAN_OK)
    if reasons:
        errors = _sub(tbao, "DSLDo")
        for r in reasons:
            ldo = _sub(errors, "LDo")
            _sub(ldo, "MLoi", r.code)
            _sub(ldo, "MTLoi", r.text)
    return build(mngui=mngui, mltdiep=codes.ACK, mst=mst or (original.mst if original is not None else "") or "-",
                 dlieu=tbao, mtdtchieu=answered,
                 mnnhan=original.mngui if original is not None else (mnnhan or "-"))


def build_notice(original: Envelope, *, mngui: str, mltdiep: int, accepted: bool, reasons: list[Reason] = (),
                 when: datetime | None = None, extra: dict[str, str] | None = None) -> bytes:
    """A tax authority notice answering `original` (110, 111, 212…): TTXNCQT 1/2, DSLDKCNhan/LDo(MLoi, MTa)."""
    tbao = etree.Element("TBao")
    data = _sub(tbao, "DLTBao", None)
    data.set("Id", "DLTBao")
    _sub(data, "PBan", codes.PBAN)
    _sub(data, "Ten", codes.NAMES.get(mltdiep, ""))
    _sub(data, "MTDTChieu", original.mtdiep)
    _sub(data, "MST", original.mst)
    _sub(data, "NTBao", _iso(when))
    for k, v in (extra or {}).items():
        _sub(data, k, v)
    _sub(data, "TTXNCQT", codes.ACCEPTED if accepted else codes.NOT_ACCEPTED)
    if reasons:
        errors = _sub(data, "DSLDKCNhan")
        for r in reasons:
            ldo = _sub(errors, "LDo")
            _sub(ldo, "MLoi", r.code)
            _sub(ldo, "MTa", r.text)
    return build(mngui=mngui, mltdiep=mltdiep, mst=original.mst, dlieu=tbao, mtdtchieu=original.mtdiep,
                 mnnhan=original.mngui)


def read_answer(env: Envelope) -> Answer:
    """What a 999 or a notice (110/111/212…) says."""
    tbao = env.dlieu.find("TBao")
    if tbao is None:
        raise EnvelopeError("10002", "thông báo thiếu TBao")
    if env.mltdiep == codes.ACK:
        accepted = _text(tbao, "TTTNhan") == codes.TTTNHAN_OK
        reasons = [Reason(_text(ld, "MLoi") or "", _text(ld, "MTLoi") or "") for ld in tbao.findall("DSLDo/LDo")]
        answered = _text(tbao, "MTDiep") or env.mtdtchieu
    else:
        data = tbao.find("DLTBao")
        if data is None:
            raise EnvelopeError("10002", "thông báo thiếu DLTBao")
        accepted = _text(data, "TTXNCQT") == codes.ACCEPTED
        reasons = [Reason(_text(ld, "MLoi") or "", _text(ld, "MTa") or "") for ld in data.findall("DSLDKCNhan/LDo")]
        answered = _text(data, "MTDTChieu") or env.mtdtchieu
    return Answer(mltdiep=env.mltdiep, mtdiep=env.mtdiep, answers=answered, accepted=accepted, reasons=reasons)
