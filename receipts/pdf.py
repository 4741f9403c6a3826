"""Put the signed XML inside the PDF and sign the PDF (PAdES B-B, or B-T with a time-stamp authority).

Speed: pyHanko builds the CMS signature container with asn1crypto, which costs more than the RSA
signature itself. For PAdES B-B with an RSA key, successive containers from one signer differ only
in the message digest and the signature value (both fixed-length; no signing time is inside a PAdES
container, it is in the signature dictionary). So the first receipt a process signs goes through
pyHanko's full path, and the container pyHanko produced becomes a template: later receipts get
pyHanko's placeholder and byte-range digest as usual, and the template with the new digest and a
fresh signature over the new signed attributes. The crypto is the same `sign_raw` call pyHanko
makes. With a time-stamp authority (B-T) every container goes through pyHanko in full.
"""

from __future__ import annotations

import io
import logging

from asn1crypto import cms
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from receipts.signing import ReceiptSigner, run_async
from receipts.xmldata import XML_FILENAME

log = logging.getLogger(__name__)
SIGNATURE_FIELD = "ChuKyDonViThu"


class CmsTemplate:
    """A CMS SignedData from pyHanko, with the places of its message digest and signature value."""

    def __init__(self, cms_der: bytes):
        info = cms.ContentInfo.load(cms_der)
        si = info["content"]["signer_infos"][0]
        attrs_der = si["signed_attrs"].dump()
        digest = next(a["values"][0].native for a in si["signed_attrs"] if a["type"].native == "message_digest")
        signature = si["signature"].native
        self.der = info.dump()
        self.attrs_at = self.der.find(attrs_der)
        self.attrs_len = len(attrs_der)
        self.digest_at = attrs_der.find(digest)
        self.digest_len = len(digest)
        self.sig_at = self.der.find(signature)
        self.sig_len = len(signature)
        self.digest_algorithm = si["digest_algorithm"]["algorithm"].native
        unique = (self.der.count(attrs_der) == 1 and attrs_der.count(digest) == 1
                  and self.der.count(signature) == 1 and self.sig_at > self.attrs_at + self.attrs_len)
        if not unique or min(self.attrs_at, self.digest_at, self.sig_at) < 0:
            raise ValueError("CMS container not usable as a template")

    def fill(self, document_digest: bytes, sign_raw) -> bytes:
        if len(document_digest) != self.digest_len:
            raise ValueError("digest length differs from the template's")
        attrs = bytearray(self.der[self.attrs_at:self.attrs_at + self.attrs_len])
        attrs[self.digest_at:self.digest_at + self.digest_len] = document_digest
        # The signature covers the attributes DER-encoded as a SET OF (RFC 5652, 5.4), not the [0] tag.
        signature = sign_raw(b"\x31" + bytes(attrs[1:]), self.digest_algorithm)
        if len(signature) != self.sig_len:
            raise ValueError("signature length differs from the template's")
        out = bytearray(self.der)
        out[self.attrs_at:self.attrs_at + self.attrs_len] = attrs
        out[self.sig_at:self.sig_at + self.sig_len] = signature
        return bytes(out)


def embed_xml(writer: IncrementalPdfFileWriter, xml: bytes) -> None:
    data = embed.EmbeddedFileObject.from_file_data(writer, xml, mime_type="application/xml")
    spec = embed.FileSpec(file_spec_string=XML_FILENAME, file_name=XML_FILENAME, embedded_data=data,
                          description="Dữ liệu biên lai điện tử (XML, ký số XML-DSig)",
                          af_relationship=generic.NameObject("/Data"))
    embed.embed_file(writer, spec)


def _signature_cms(signed: bytes) -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader

    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[-1]
    return cms.ContentInfo.load(sig.pkcs7_content).dump()


def sign_receipt_pdf(pdf: bytes, xml: bytes, signer: ReceiptSigner, *, reason: str = "Biên lai điện tử",
                     location: str | None = None) -> bytes:
    """The final file: the rendered page, the XML attached, and one signature over all of it."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    embed_xml(writer, xml)
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason, location=location,
    )
    # The template lives on the signer object, so it can never be used with another key.
    template = None if signer.tsa_url else signer.cms_template
    with signer._lock:  # the PKCS#11 session is shared; see ReceiptSigner.sign_raw
        pdf_signer = signers.PdfSigner(meta, signer=signer.signer, timestamper=signer.timestamper())
        out = io.BytesIO()
        if template is None:
            run_async(pdf_signer.async_sign_pdf(writer, output=out, bytes_reserved=signer.bytes_reserved))
        else:
            prepared, _tbs, out = run_async(pdf_signer.async_digest_doc_for_signing(
                writer, bytes_reserved=signer.bytes_reserved, output=out))
            prepared.fill_with_cms(out, template.fill(prepared.document_digest, signer.signer_sign_raw))
    data = out.getvalue()
    if template is None and not signer.tsa_url and not signer.cms_template_tried:
        with signer._lock:
            signer.cms_template_tried = True
            try:
                signer.cms_template = CmsTemplate(_signature_cms(data))
            except (ValueError, KeyError, StopIteration) as e:
                log.info("CMS template not usable; every receipt takes pyHanko's full path",
                         extra={"error": str(e)})
    return signer.extend_long_term(data)
