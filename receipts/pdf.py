"""Put the signed XML inside the PDF and sign the PDF (PAdES B-B, or B-T with a time-stamp authority)."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from receipts.signing import ReceiptSigner
from receipts.xmldata import XML_FILENAME

SIGNATURE_FIELD = "ChuKyDonViThu"


def embed_xml(writer: IncrementalPdfFileWriter, xml: bytes) -> None:
    data = embed.EmbeddedFileObject.from_file_data(writer, xml, mime_type="application/xml")
    spec = embed.FileSpec(file_spec_string=XML_FILENAME, file_name=XML_FILENAME, embedded_data=data,
                          description="Dữ liệu biên lai điện tử (XML, ký số XML-DSig)",
                          af_relationship=generic.NameObject("/Data"))
    embed.embed_file(writer, spec)


def sign_receipt_pdf(pdf: bytes, xml: bytes, signer: ReceiptSigner, *, reason: str = "Biên lai điện tử",
                     location: str | None = None) -> bytes:
    """The final file: the rendered page, the XML attached, and one signature over all of it."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    embed_xml(writer, xml)
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason, location=location,
    )
    with signer._lock:  # the PKCS#11 session is shared; see ReceiptSigner.sign_raw
        pdf_signer = signers.PdfSigner(meta, signer=signer.signer, timestamper=signer.timestamper())
        out = io.BytesIO()
        pdf_signer.sign_pdf(writer, output=out)
    return out.getvalue()
