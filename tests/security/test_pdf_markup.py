"""A citizen's name or address is printed as typed on every PDF, never read as reportlab markup.

Markup in a Paragraph once made the letter of apology answer 500 (`<script>`) and embedded a file of
the server in the PDF (`<img src=...>`). Each PDF the product serves is fetched over HTTP here: the
receipt, the letter of apology, the handover list and the carrier's label.
"""

from __future__ import annotations

import io
import re
import subprocess
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from PIL import Image
from pypdf import PdfReader

from carriers.base import breaker
from fees.schedule import seed_default
from postal.models import Shipment
from tests.factories import bearer, make_api_key
from tests.postal.support import shipment_body

# Every character pdftotext could show of a control: C0 except tab and newline, and DEL.
CONTROLS = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n") + "\x7f"
SECRET_SIZE = (13, 7)  # an image of the server no PDF may ever contain, known by its size

HOSTILE = {
    "script": "<script>alert(1)</script> Lê",
    "img-existing-file": '<img src="{secret}"/> Lê',
    "img-passwd": '<img src="/etc/passwd"/> Lê',
    "font": '<font name="x">Lê Văn</font>',
    "ampersand": "Hộ kinh doanh A & B &amp; C",
    "unbalanced": "<b>Nguyễn Văn An",
    "quotes": "Lê \"Tèo\" O'Brien",
}
# What the page shows; control characters are gone (cleaned on input, dropped on output).
HOSTILE_WITH_CONTROLS = {**HOSTILE, "controls": (f"Trần{CONTROLS}Bình", "Trần Bình")}


@pytest.fixture
def secret(tmp_path, monkeypatch):
    """An image file on the server, named relative to the working directory (a short name fits a label line)."""
    Image.new("RGB", SECRET_SIZE, "red").save(tmp_path / "s.png")
    monkeypatch.chdir(tmp_path)
    return "s.png"


def _value(kind: str, secret: str) -> tuple[str, str]:
    """(what is sent, what the page must show)."""
    v = HOSTILE_WITH_CONTROLS[kind]
    if isinstance(v, tuple):
        return v
    v = v.replace("{secret}", secret)
    return v, v


@pytest.fixture
def key(session, centre):
    seed_default(session, centre)
    session.commit()
    return make_api_key(session)


@pytest.fixture
def carriers_in_process(app):
    """The carrier adapters' HTTP to this app's own /sandbox/... answered by the app in process."""
    web = app.test_client()

    def route(request):
        parts = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        resp = web.open(parts.path, method=request.method, query_string=dict(parse_qsl(parts.query)), data=body,
                        headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"})
        return resp.status_code, {"Content-Type": resp.headers.get("Content-Type", "")}, resp.data

    breaker.reset()  # earlier tests' carrier calls, with nothing listening, may have opened it
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST"):
            mock.add_callback(method, re.compile(r"http://localhost/sandbox/.*"), callback=route)
        yield mock
    breaker.reset()


def _text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def _image_sizes(pdf: bytes) -> list[tuple[int, int]]:
    sizes = []

    def walk(resources):
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        for ref in (xobjects.get_object().values() if xobjects is not None else ()):
            x = ref.get_object()
            if x.get("/Subtype") == "/Image":
                sizes.append((int(x["/Width"]), int(x["/Height"])))
            elif x.get("/Subtype") == "/Form":
                walk(x.get("/Resources"))

    for page in PdfReader(io.BytesIO(pdf)).pages:
        walk(page.get("/Resources"))
    return sizes


def _squeeze(text: str) -> str:
    """Without whitespace: a long value may wrap anywhere in a narrow table cell."""
    return "".join(text.split())


def assert_shows_literally(resp, shown: str, *, images: int = 0):
    assert resp.status_code == 200, resp.data[:300]
    assert resp.mimetype == "application/pdf"
    pdf = resp.data
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 1
    text = _text(pdf)
    assert _squeeze(shown) in _squeeze(text), text
    assert not set(CONTROLS) - {"\x0c"} & set(text)  # pdftotext ends each page with a form feed
    sizes = _image_sizes(pdf)
    assert SECRET_SIZE not in sizes and len(sizes) == images, sizes


def _shipment(client, key, sent: str, **body) -> int:
    recipient = {"name": sent, "phone": "0912345678",
                 "address": {"street": f"Số 12 {sent}", "ward": "Thanh Xuân", "province": "Hà Nội"}}
    resp = client.post("/api/v1/shipments", json=shipment_body(recipient=recipient, **body), headers=bearer(key))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@pytest.mark.parametrize("kind", HOSTILE_WITH_CONTROLS)
def test_the_receipt_prints_the_payers_name_and_address_as_typed(client, key, secret, kind):
    sent, shown = _value(kind, secret)
    created = client.post("/api/v1/payments", headers=bearer(key), json={
        "dossier_code": "000.00.12.H26-260101-0042", "payer": {"name": sent, "address": f"Số 1 {sent}"},
        "items": [{"fee_code": "LLTP", "quantity": 1}], "channels": ["counter"]})
    assert created.status_code == 201, created.get_json()
    pid = created.get_json()["id"]
    assert client.post(f"/api/v1/payments/{pid}/counter", json={"method": "cash"}, headers=bearer(key)).status_code == 200
    url = client.get(f"/api/v1/payments/{pid}", headers=bearer(key)).get_json()["receipt_pdf_url"]
    assert url, "no receipt was issued"
    resp = client.get(urlsplit(url).path, headers=bearer(key))
    assert_shows_literally(resp, shown, images=1)  # the lookup QR code, and nothing else
    assert _squeeze(f"Số 1 {shown}") in _squeeze(_text(resp.data))


@pytest.mark.parametrize("kind", HOSTILE_WITH_CONTROLS)
def test_the_letter_of_apology_prints_the_recipient_as_typed(client, key, secret, kind):
    sent, shown = _value(kind, secret)
    sid = _shipment(client, key, sent, promised_date="2026-01-05")
    resp = client.get(f"/api/v1/shipments/{sid}/apology.pdf", headers=bearer(key))
    assert_shows_literally(resp, shown)
    assert _squeeze(f"Số 12 {shown}") in _squeeze(_text(resp.data))


@pytest.mark.parametrize("kind", HOSTILE_WITH_CONTROLS)
def test_the_label_and_the_handover_list_print_the_recipient_as_typed(client, key, secret, carriers_in_process,
                                                                      session, kind):
    sent, shown = _value(kind, secret)
    sid = _shipment(client, key, sent)
    shipment = session.get(Shipment, sid)
    assert shipment.tracking_code and shipment.label_pdf, "the sandbox carrier did not create the parcel"
    label = client.get(f"/api/v1/shipments/{sid}/label", headers=bearer(key))
    assert_shows_literally(label, shown)
    batch = client.post("/api/v1/shipments/batches", json={"shipment_ids": [sid]}, headers=bearer(key))
    assert batch.status_code == 201, batch.get_json()
    handover = client.get(batch.get_json()["handover_url"], headers=bearer(key))
    assert_shows_literally(handover, shown)
    assert _squeeze(f"Số 12 {shown}") in _squeeze(_text(handover.data))
    labels = client.get(batch.get_json()["labels_url"], headers=bearer(key))
    assert_shows_literally(labels, shown)


@pytest.mark.parametrize("kind", HOSTILE)
def test_rows_stored_before_input_was_cleaned_still_print_as_typed(client, key, secret, session, kind):
    """Old rows keep their control characters and markup; the PDFs drop the one and escape the other."""
    sent, shown = _value(kind, secret)
    sid = _shipment(client, key, "Trần Thị Bình", promised_date="2026-01-05")
    shipment = session.get(Shipment, sid)
    # PostgreSQL text cannot hold NUL, so no old row there has one; every other control character it can.
    storable = CONTROLS.replace("\x00", "")
    shipment.recipient_name = f"{sent}\x01\x1b\x7f"
    shipment.street = f"{storable}{sent}"
    shipment.tracking_code = "G\x1f000000001"
    session.commit()
    letter = client.get(f"/api/v1/shipments/{sid}/apology.pdf", headers=bearer(key))
    assert_shows_literally(letter, shown)
    batch = client.post("/api/v1/shipments/batches", json={"shipment_ids": [sid]}, headers=bearer(key))
    assert batch.status_code == 201, batch.get_json()
    handover = client.get(batch.get_json()["handover_url"], headers=bearer(key))
    assert_shows_literally(handover, shown)
    assert "G000000001" in _text(handover.data)


def test_the_sandbox_label_drops_control_characters_a_client_sent(client):
    """The carrier sandbox draws what any client sent it; a control character is not drawn as a box."""
    token = {"Token": "sandbox-ghn-token"}
    # A district and one of its wards, as GHN's catalogue names them (the sandbox refuses a ward elsewhere).
    districts = client.get("/sandbox/ghn/shiip/public-api/master-data/district", headers=token).get_json()["data"]
    district_id = districts[0]["DistrictID"]
    wards = client.get("/sandbox/ghn/shiip/public-api/master-data/ward", query_string={"district_id": district_id},
                       headers=token).get_json()["data"]
    order = {"client_order_code": "HCCSEC000001", "to_name": f"Trần{CONTROLS}Bình <b>", "to_phone": "0912345678",
             "to_address": "Số 12 Nguyễn Trãi", "to_ward_code": wards[0]["WardCode"], "to_district_id": district_id,
             "weight": 300}
    created = client.post("/sandbox/ghn/shiip/public-api/v2/shipping-order/create", json=order, headers=token)
    assert created.status_code == 200, created.get_json()
    code = created.get_json()["data"]["order_code"]
    gen = client.post("/sandbox/ghn/shiip/public-api/v2/a5/gen-token", json={"order_codes": [code]}, headers=token)
    label = client.get("/sandbox/ghn/a5/public-api/printA5", query_string={"token": gen.get_json()["data"]["token"]})
    assert_shows_literally(label, "Người nhận: Trần Bình <b>")


def test_a_dossier_code_with_quotes_and_diacritics_names_the_download_exactly(client, key):
    import re
    from urllib.parse import unquote

    dossier = 'HS-"Đặc";x'
    sid = _shipment(client, key, "Nguyễn Văn An", dossier_code=dossier, promised_date="2026-01-05")
    resp = client.get(f"/api/v1/shipments/{sid}/apology.pdf", headers=bearer(key))
    assert resp.status_code == 200
    header = resp.headers["Content-Disposition"]
    assert header.isascii()  # was the raw code: a quote ended the name early, and đ left Latin-1
    # A client that reads RFC 5987 gets the exact name; an older one the ASCII fallback.
    exact = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'(\S+)', header)
    assert exact, header
    assert exact.group(1) == "thu-xin-loi-HS-Dacx.pdf"
    assert unquote(exact.group(2)) == f"thu-xin-loi-{dossier}.pdf"
