"""XML-DSig signatures as Vietnamese e-invoice/e-receipt data messages carry them.

The tax authority's technical rules (Decision 1450/QĐ-TCT, now 1271/QĐ-CT, part "chữ ký số") sign an
element identified by its `Id` with an XML-DSig signature placed in a container of the message
(`DSCKS/NBan`, `DSCKS/NNT`, ...), not inside the signed element, and carry in the signature:

- `SignedInfo` with RSA-SHA256 and SHA-256 digests;
- a first `Reference` to `#<Id of the signed element>` (transforms: enveloped-signature, C14N);
- a second `Reference` to the `Object` holding the signing time, so the time is signed too;
- `KeyInfo/X509Data` with `X509SubjectName` and `X509Certificate` (signing certificate first);
- `Object/SignatureProperties/SignatureProperty/SigningTime`, local time `YYYY-MM-DDThh:mm:ss`.

Built here by hand rather than with signxml's signer: signxml adds signature properties only to detached
signatures, and puts an enveloped-signature transform on every reference (which would empty the
reference to an Object inside the signature). Verification is signxml's, an implementation independent
of this one, and the tests also check every signature with `xmlsec1 --verify`.

ASSUMED (see docs/tax/receipt-xml.md): `SignatureProperties`, `SignatureProperty` and `SigningTime` are
elements of no namespace, as the Vietnamese samples write them (`<SignatureProperties xmlns="">` under a
default-namespace `Signature`): the W3C schema accepts them there (Object content is lax), where it would
reject an unqualified `SigningTime` under `ds:SignatureProperty` (whose content must be of another
namespace) and a `ds:SigningTime` (the form of the tax authority's own notices). The time is Vietnamese
local time without offset, as in those notices. The signature's elements carry the `ds:` prefix rather
than a default namespace: a default namespace would need `xmlns=""` below it, which libxml2 canonicalises
wrongly in a subtree (it adds `xmlns=""` to the parent as well), so other verifiers would compute another
digest. Documents signed here must not use a default namespace either (the tax authority's formats have
none).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from lxml import etree

from core.clock import to_local

DS = "http://www.w3.org/2000/09/xmldsig#"
# Exclusive C14N (for SignedInfo and both references), as vendors' signers use for the references: the
# signed parts keep their digest when the message is put inside an envelope (the tax authority's TDiep, a
# PDF's attachment) whose ancestors declare namespaces, which inclusive C14N would pull in.
C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = f"{DS}enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNING_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class XmlSignatureError(Exception):
    """Raised when a document cannot be signed, or its signature is missing, malformed or does not verify."""


def parser() -> etree.XMLParser:
    """A parser that never fetches anything nor expands entities (documents come from outside)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_comments=False)


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def _c14n(element: etree._Element) -> bytes:
    # Exclusive C14N of the element in its document: only the namespaces it uses are rendered.
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _digest(element: etree._Element) -> str:
    return base64.b64encode(hashlib.sha256(_c14n(element)).digest()).decode()


def _find_by_id(root: etree._Element, ident: str) -> etree._Element:
    found = [e for e in root.iter() if isinstance(e.tag, str) and e.get("Id") == ident]
    if len(found) != 1:
        raise XmlSignatureError(f"expected exactly one element with Id={ident!r}, found {len(found)}")
    return found[0]


# A certificate's DER and subject are the same on every signature it makes: parsed once per certificate.
@functools.lru_cache(maxsize=64)
def _pem_body(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


@functools.lru_cache(maxsize=64)
def subject_name(pem: bytes) -> str:
    """The certificate's subject as RFC 4514 text (most specific first: `CN=...,O=...,C=VN`)."""
    return x509.load_pem_x509_certificate(pem).subject.rfc4514_string()


def format_signing_time(value: datetime) -> str:
    return to_local(value).strftime(SIGNING_TIME_FORMAT)


def sign(element: etree._Element, key, cert_pems: list[bytes], *, reference_id: str, signing_time: datetime,
         parent: etree._Element | None = None, signature_id: str | None = None) -> etree._Element:
    """Sign the element with Id `reference_id` (in `element`'s tree) and put the signature in `parent`.

    `parent` defaults to the referenced element itself (an enveloped signature). `key` is a cryptography
    RSA private key or anything with the same `sign(data, padding, algorithm)` (the receipts' signing
    adapter, which signs on a token). `cert_pems` is the signing certificate first, then its chain.
    Returns `element`, now holding the signature.
    """
    if not cert_pems:
        raise XmlSignatureError("no signing certificate")
    target = _find_by_id(element, reference_id)
    sig_id = signature_id or f"{reference_id}-sig"
    time_id = f"{sig_id}-SigningTime"

    sig = etree.Element(_ds("Signature"), nsmap={"ds": DS}, Id=sig_id)
    info = etree.SubElement(sig, _ds("SignedInfo"))
    etree.SubElement(info, _ds("CanonicalizationMethod"), Algorithm=C14N)
    etree.SubElement(info, _ds("SignatureMethod"), Algorithm=RSA_SHA256)
    digests = []
    for uri, transforms in ((reference_id, (ENVELOPED, C14N)), (time_id, (C14N,))):
        ref = etree.SubElement(info, _ds("Reference"), URI=f"#{uri}")
        tr = etree.SubElement(ref, _ds("Transforms"))
        for algorithm in transforms:
            etree.SubElement(tr, _ds("Transform"), Algorithm=algorithm)
        etree.SubElement(ref, _ds("DigestMethod"), Algorithm=SHA256)
        digests.append(etree.SubElement(ref, _ds("DigestValue")))
    value = etree.SubElement(sig, _ds("SignatureValue"))
    key_info = etree.SubElement(sig, _ds("KeyInfo"))
    data = etree.SubElement(key_info, _ds("X509Data"))
    etree.SubElement(data, _ds("X509SubjectName")).text = subject_name(cert_pems[0])
    for pem in cert_pems:
        etree.SubElement(data, _ds("X509Certificate")).text = _pem_body(pem)
    obj = etree.SubElement(sig, _ds("Object"), Id=time_id)
    # Unqualified, as `<SignatureProperties xmlns="">` in the Vietnamese samples (see the module's ASSUMED).
    props = etree.SubElement(obj, "SignatureProperties")
    prop = etree.SubElement(props, "SignatureProperty", Target=f"#{sig_id}")
    etree.SubElement(prop, "SigningTime").text = format_signing_time(signing_time)

    # The enveloped-signature transform takes this signature out of the referenced element, so its digest
    # is that of the element before the signature is attached. Everything else is digested in place.
    digests[0].text = _digest(target)
    (target if parent is None else parent).append(sig)
    digests[1].text = _digest(obj)
    signature = key.sign(_c14n(info), PKCS1v15(), hashes.SHA256())
    value.text = base64.b64encode(signature).decode()
    return element


def verify(data: bytes, trusted_cert_pem: bytes, *, signature_id: str | None = None) -> etree._Element:
    """Verify the document's signature (the first, or the one with `signature_id`) against the certificate.

    The signature references one element of the document and, optionally, Objects of its own (the signing
    time); every reference must verify.

    Returns the signed element as the signature covers it: read fields from it, never from `data`, or
    unsigned parts wrapped around the signed ones would be believed.
    """
    from signxml import XMLVerifier
    from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

    try:
        root = etree.fromstring(data, parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise XmlSignatureError(f"not well-formed XML: {e}") from e
    sigs = root.findall(f".//{_ds('Signature')}")
    if root.tag == _ds("Signature"):
        sigs.insert(0, root)
    if signature_id is not None:
        sigs = [s for s in sigs if s.get("Id") == signature_id]
    if not sigs:
        raise XmlSignatureError("no signature")
    sig = sigs[0]
    refs = sig.findall(f"{_ds('SignedInfo')}/{_ds('Reference')}")
    obj_ids = {o.get("Id") for o in sig.findall(_ds("Object")) if o.get("Id")}
    data_refs = [r for r in refs if (r.get("URI") or "").lstrip("#") not in obj_ids]
    if len(data_refs) != 1:
        raise XmlSignatureError("the signature must reference exactly one signed element (and its own Objects)")
    if signature_id is not None or len(sigs) > 1 or sig is not _first_signature(root):
        # signxml verifies the first signature of a document: hand it this one alone, in a copy of the document.
        root = _only_signature(root, sig)
    try:
        results = XMLVerifier().verify(root, x509_cert=trusted_cert_pem.decode(), expect_references=len(refs))
        results = results if isinstance(results, list) else [results]
    except (InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput, etree.XMLSyntaxError, ValueError) as e:
        raise XmlSignatureError(str(e)) from e
    wanted = data_refs[0].get("URI") or ""
    for result in results:
        signed = result.signed_xml
        if signed is not None and (f"#{signed.get('Id')}" == wanted or (wanted == "" and signed.tag == root.tag)):
            return signed
    raise XmlSignatureError("the signed element was not found among the verified references")


def _first_signature(root: etree._Element) -> etree._Element | None:
    return next(iter(root.iter(_ds("Signature"))), None)


def _only_signature(root: etree._Element, keep: etree._Element) -> etree._Element:
    marker = "hcc-keep-signature"
    keep.set(marker, "1")
    try:
        copy = etree.fromstring(etree.tostring(root), parser())
    finally:
        del keep.attrib[marker]
    for other in list(copy.iter(_ds("Signature"))):
        if other.get(marker) is None:
            other.getparent().remove(other)
    kept = next(copy.iter(_ds("Signature")))
    del kept.attrib[marker]
    return copy


def signing_time(signature: etree._Element) -> str | None:
    """The `SigningTime` text of a signature element (as written, Vietnamese local time)."""
    found = signature.find(f"{_ds('Object')}/SignatureProperties/SignatureProperty/SigningTime")
    return None if found is None else found.text
