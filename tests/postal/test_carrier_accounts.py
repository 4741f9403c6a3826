"""A centre's shipments go through its own carrier account; a centre without one uses the deployment's.

The carriers' sandboxes answer behind `responses` at the wire (as in tests/carriers), so what each
call carried (shop id, token, sender address) is read off the recorded requests, and the sandbox's
own credential check (which now knows the centres' accounts) is exercised too.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from sqlalchemy import select

from carriers.base import breaker
from carriers.ghn import sandbox as ghn_sandbox
from carriers.sandbox import Call, store_for
from carriers.viettelpost import sandbox as vtp_sandbox
from carriers.viettelpost.client import reset_token_cache as vtp_reset
from carriers.vnpost import sandbox as vnpost_sandbox
from carriers.vnpost.client import reset_token_cache as vnpost_reset
from core.accounts import ensure_demo_centre
from postal.accounts import carrier_for_centre
from postal.models import Shipment, ShipmentEvent
from postal.shipments import carrier_request, staff_action
from tests.factories import make_centre
from tests.postal.factories import STAFF, make_carrier_account, make_shipment

SANDBOXES = {"vnpost": vnpost_sandbox, "viettelpost": vtp_sandbox, "ghn": ghn_sandbox}
TOKEN = "ghn-token-of-bac-ninh-0123456789"
PICKUP = "Số 5 Trần Hưng Đạo, phường Kinh Bắc, tỉnh Bắc Ninh"


@pytest.fixture
def hcc_settings(app):
    return app.extensions["hcc"].settings


@pytest.fixture(autouse=True)
def _fresh():
    breaker.reset()
    vnpost_reset()
    vtp_reset()
    yield
    vnpost_reset()
    vtp_reset()


@pytest.fixture
def wire(hcc_settings):
    """Every call to <public url>/sandbox/<carrier>/ answered by that carrier's sandbox, in process."""
    store = store_for(hcc_settings)

    def route(request):
        parts = urlsplit(request.url)
        carrier, _, rest = parts.path[len("/sandbox/"):].partition("/")
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        ctype = request.headers.get("Content-Type", "")
        call = Call(method=request.method, path="/" + rest, headers=dict(request.headers),
                    query=dict(parse_qsl(parts.query)), form=dict(parse_qsl(body)) if "form" in ctype else {},
                    json=json.loads(body) if "json" in ctype and body else None)
        reply = SANDBOXES[carrier].handle(store, hcc_settings, call)
        if isinstance(reply.body, bytes):
            return reply.status, {"Content-Type": reply.content_type}, reply.body
        return reply.status, {"Content-Type": "application/json"}, json.dumps(reply.body)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST"):
            mock.add_callback(method, re.compile(re.escape(hcc_settings.public_url) + r"/sandbox/.*"), callback=route)
        yield mock


def _ghn_api_calls(wire):
    return [c.request for c in wire.calls if "/sandbox/ghn/shiip/" in c.request.url]


def _created(session, s) -> Shipment:
    session.expire_all()
    return session.get(Shipment, s.id)


@pytest.fixture
def bac_ninh(session, hcc_settings):
    centre = make_centre(session, "HCC-BN")
    make_carrier_account(session, hcc_settings, centre, carrier="ghn", customer_code="4242", token=TOKEN,
                         pickup_address=PICKUP)
    return centre


def test_a_centre_with_its_own_ghn_account_ships_with_its_shop_id_and_token(session, hcc_settings, wire, bac_ninh):
    s = _created(session, make_shipment(session, hcc_settings, centre=bac_ninh, tracking_code=None))

    assert s.tracking_code and s.last_error is None  # the sandbox took the centre's token
    calls = _ghn_api_calls(wire)
    assert calls and all(r.headers["Token"] == TOKEN and r.headers["ShopId"] == "4242" for r in calls)
    [create] = [r for r in calls if r.url.endswith("/v2/shipping-order/create")]
    # Collected at the account's pickup address, not the centre's own.
    assert "Trần Hưng Đạo" in json.loads(create.body)["from_address"]
    # Its label was fetched through the same account.
    assert any(r.url.endswith("/v2/a5/gen-token") for r in calls) and s.label_pdf.startswith(b"%PDF")


def test_a_centre_without_an_account_uses_the_deployment_settings(session, hcc_settings, wire, bac_ninh):
    s = _created(session, make_shipment(session, hcc_settings, tracking_code=None))

    assert s.centre_id == ensure_demo_centre(session).id and s.tracking_code
    calls = _ghn_api_calls(wire)
    assert calls and all(r.headers["Token"] == "sandbox-ghn-token" and r.headers["ShopId"] == "885" for r in calls)


def test_another_centres_account_is_never_used(session, hcc_settings, wire, bac_ninh):
    # A third centre holds a VNPost account only: its GHN parcels go through the deployment's GHN account.
    other = make_centre(session, "HCC-HP")
    make_carrier_account(session, hcc_settings, other, carrier="vnpost", customer_code="KH-HP", token="vnp-hp-token")
    make_shipment(session, hcc_settings, centre=other, tracking_code=None, dossier_code="HP-1")
    make_shipment(session, hcc_settings, tracking_code=None, dossier_code="DEMO-1")

    tokens = {r.headers["Token"] for r in _ghn_api_calls(wire)}
    assert tokens == {"sandbox-ghn-token"}
    assert TOKEN not in tokens


def test_an_account_without_its_token_stops_the_parcel_rather_than_use_another_account(session, hcc_settings, wire):
    centre = make_centre(session, "HCC-QN")
    make_carrier_account(session, hcc_settings, centre, carrier="ghn", customer_code="777", token=None)
    s = _created(session, make_shipment(session, hcc_settings, centre=centre, tracking_code=None))

    assert s.tracking_code is None and "create_failed" in s.flags
    assert "no token" in s.last_error and "carrier-token" in s.last_error
    assert not [r for r in _ghn_api_calls(wire) if r.url.endswith("/create")]


def test_the_token_is_never_logged_nor_stored_with_the_shipment(session, hcc_settings, wire, bac_ninh, caplog):
    caplog.set_level(logging.DEBUG)
    s = _created(session, make_shipment(session, hcc_settings, centre=bac_ninh, tracking_code=None))
    staff_action(session, s, "cancel", actor=STAFF, settings=hcc_settings, note="công dân đến nhận trực tiếp")
    session.commit()

    assert s.status == "cancelled"
    assert [r for r in _ghn_api_calls(wire) if r.url.endswith("/switch-status/cancel")][0].headers["Token"] == TOKEN
    assert TOKEN not in caplog.text
    for row in (s, *session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == s.id))):
        values = {c.key: getattr(row, c.key) for c in row.__table__.columns}
        assert TOKEN not in repr(values)
    assert TOKEN not in repr(carrier_for_centre(session, hcc_settings, "ghn", bac_ninh.id).config)


def test_the_sandbox_still_refuses_a_token_no_account_holds(hcc_settings, bac_ninh):
    store = store_for(hcc_settings)

    def ask(token, shop):
        call = Call(method="POST", path="/shiip/public-api/v2/shipping-order/available-services",
                    headers={"Token": token, "ShopId": shop}, query={}, form={}, json={})
        return ghn_sandbox.handle(store, hcc_settings, call).status

    assert ask(TOKEN, "4242") == 200
    assert ask("sandbox-ghn-token", "885") == 200
    assert ask("a-token-nobody-holds", "4242") == 401
    assert ask(TOKEN, "885") == 401  # a centre's token speaks for its own shop only


@pytest.mark.parametrize(("carrier", "customer_code", "seen"), [
    ("vnpost", "KH-BN-01", lambda r, body: body.get("customerCode") == "KH-BN-01"
     and body.get("contractNumber") == "HD-2026/15"),
    ("viettelpost", "vtp-bac-ninh", lambda r, body: body.get("USERNAME") == "vtp-bac-ninh"
     and body.get("PASSWORD") == "centre-secret"),
    ("ghn", "4242", lambda r, body: r.headers.get("Token") == "centre-secret" and r.headers.get("ShopId") == "4242"),
])
def test_each_carrier_quotes_through_the_centres_account(session, hcc_settings, wire, carrier, customer_code, seen):
    centre = make_centre(session, "HCC-BG")
    make_carrier_account(session, hcc_settings, centre, carrier=carrier, customer_code=customer_code,
                         token="centre-secret", contract_number="HD-2026/15")
    s = make_shipment(session, hcc_settings, centre=centre, carrier=carrier, tracking_code="X")

    rates = carrier_for_centre(session, hcc_settings, carrier, centre.id).quote(carrier_request(session, s))

    assert rates and all(r.carrier == carrier for r in rates)
    bodies = [(c.request, json.loads(c.request.body) if c.request.body and c.request.body[:1] in (b"{", "{")
               else dict(parse_qsl(c.request.body or ""))) for c in wire.calls]
    assert any(seen(r, body) for r, body in bodies)
    if carrier == "vnpost":
        [token_call] = [r for r, _ in bodies if r.url.endswith("/GetAccessToken")]
        assert json.loads(token_call.body)["password"] == "centre-secret"
