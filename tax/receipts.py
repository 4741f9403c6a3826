"""A receipt's data as the tax authority receives it: the signed receipt XML embedded in the receipt's PDF."""

from __future__ import annotations

from io import BytesIO

from lxml import etree
from sqlalchemy.orm import Session

from core.settings import Settings
from receipts.storage import storage_for
from receipts.xmldata import XML_FILENAME


class ReceiptDataError(Exception):
    """Raised when an issued receipt's stored file holds no readable signed XML."""


def embedded_xml(pdf: bytes) -> bytes:
    """The signed XML (XML_FILENAME) embedded in a receipt PDF, byte for byte."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(BytesIO(pdf), strict=False)
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError as e:
        raise ReceiptDataError("the PDF embeds no file") from e
    for i in range(0, len(names) - 1, 2):
        spec = names[i + 1].get_object()
        if str(names[i]) == XML_FILENAME or str(spec.get("/UF", "")) == XML_FILENAME:
            return spec["/EF"]["/F"].get_object().data
    raise ReceiptDataError(f"the PDF does not embed {XML_FILENAME}")


def receipt_xml(settings: Settings, receipt) -> bytes:
    if not receipt.storage_key:
        raise ReceiptDataError(f"receipt {receipt.id} has no stored file")
    return embedded_xml(storage_for(settings).get(receipt.storage_key))


def receipt_dlieu(session: Session, settings: Settings, receipt) -> etree._Element:
    """The signed receipt element, unchanged, to go inside DLieu (its signature stays verifiable on its own)."""
    raw = receipt_xml(settings, receipt)
    return etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False))
