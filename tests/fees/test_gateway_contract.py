"""One contract suite, run against every registered online gateway (a new one is picked up by its
registration line alone): its client talks to its own sandbox (`fees/gateways/<name>/sandbox.py`, its
ROUTES behind `responses`), the citizen pays there (the sandbox's `citizen_pays`), and the notification
the sandbox sends reaches our generic callback route, where its adapter parses it and `fees.ipn.judge`
decides. See fees/gateways/README.md.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import responses
from sqlalchemy import select
from werkzeug.routing import Map, Rule

from core import audit, jobs
from core.adapters import NotConfigured
from core.models import InboundCallback
from fees import merchants
from fees.gateways import attempts, ledger
from fees.gateways.base import (
    BAD_SIGNATURE,
    GATEWAYS,
    Checkout,
    GatewayNotConfigured,
    InboundRequest,
    SandboxRequest,
    gateway_class,
    gateway_names,
    get_gateway,
    sandbox_module_name,
)
from fees.models import Payment, Refund
from fees.refunds import execute_refund, request_refund
from tests.fees.factories import make_payment

ONLINE = [name for name in gateway_names(online=True) if gateway_class(name).checkout_kind]
FINANCE = audit.Actor(type="user", id="7", name="Kế toán")


def sandbox_of(name: str):
    return importlib.import_module(sandbox_module_name(name))


class Wire:
    """Every gateway sandbox's routes answering the real clients' HTTP calls; what the sandboxes send us
    (their notifications) is kept in `sent` for the test to deliver."""

    def __init__(self, session, settings):
        self.session, self.settings, self.sent = session, settings, []
        self.map = Map([Rule(f"/sandbox/{getattr(sandbox_of(n), 'PREFIX', n)}{r.rule}", methods=list(r.methods),
                             endpoint=(n, r)) for n in ONLINE for r in sandbox_of(n).ROUTES])

    def notify(self, method: str, url: str, **kwargs) -> int:
        self.sent.append((method, url, kwargs))
        return 200

    def answer(self, request):
        parts = urlsplit(request.url)
        try:
            (gateway, route), path_args = self.map.bind("localhost").match(parts.path, method=request.method)
        except Exception:
            return 404, {}, "no such sandbox route"
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        ctype = request.headers.get("Content-Type", "")
        req = SandboxRequest(
            method=request.method, path_args=path_args, args=dict(parse_qsl(parts.query, keep_blank_values=True)),
            form=dict(parse_qsl(body.decode(), keep_blank_values=True)) if "form" in ctype else {},
            json=json.loads(body) if "json" in ctype and body else None, body=body, settings=self.settings,
            merchant=lambda mid, g=gateway: merchants.account_for_callback(self.session, self.settings, g, mid)
            or merchants.default_account(self.settings, g),
            notify=self.notify, query_string=parts.query)
        reply = route.handler(req)
        if reply.redirect is not None:
            return 302, {"Location": reply.redirect}, ""
        if reply.json is not None:
            return reply.status, {"Content-Type": "application/json"}, json.dumps(reply.json)
        return reply.status, {}, reply.body or (reply.template or "").encode()


@pytest.fixture
def wire(app, session):
    ledger.clear()
    w = Wire(session, jobs.settings())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST"):
            mock.add_callback(method, re.compile(re.escape(w.settings.public_url) + r"/sandbox/.*"), callback=w.answer)
        w.mock = mock
        yield w
    ledger.clear()


def checkout(session, gateway_name: str, amount: int = 200_000) -> tuple[Payment, Checkout]:
    """A payment and one order for it at the gateway's sandbox, as the pay page opens it."""
    payment = make_payment(session, amount=amount, channels=[gateway_name])
    gateway = get_gateway(gateway_name, jobs.settings())
    return_url = f"{jobs.settings().public_url}/pay/{payment.code}/result"
    if gateway.checkout_kind == "redirect":  # one gateway order per attempt, as the pay page's button opens it
        opened = attempts.start_checkout(session, payment, gateway, return_url=return_url, client_ip="127.0.0.1")
    else:  # a QR shown on the pay page: the transfer names the payment itself
        opened = gateway.checkout(payment, return_url=return_url)
    session.commit()
    return payment, opened


def pay_in_sandbox(wire: Wire, gateway_name: str, payment: Payment, opened: Checkout, success: bool = True) -> list:
    """The citizen pays at the sandbox; returns the notifications it sent us."""
    import requests

    before = len(wire.sent)
    for method, url, form in sandbox_of(gateway_name).citizen_pays(opened, amount=payment.amount,
                                                                   settings=wire.settings, success=success):
        resp = requests.request(method, url, data=form or None, allow_redirects=False, timeout=5)
        assert resp.status_code < 400, (url, resp.status_code, resp.text[:200])
    return wire.sent[before:]


def inbound(sent) -> tuple[str, InboundRequest]:
    """What the sandbox sent, as our route would receive it: (path, request)."""
    method, url, kwargs = sent
    parts = urlsplit(url)
    query = {k: str(v) for k, v in (kwargs.get("params") or {}).items()}
    if "json" in kwargs:
        body, headers = json.dumps(kwargs["json"]).encode(), {"Content-Type": "application/json"}
    else:
        body, headers = kwargs.get("data") or b"", dict(kwargs.get("headers") or {})
    return parts.path, InboundRequest(method=method, query=query, headers=headers, body=body,
                                      query_string=urlencode(query))


def deliver(client, sent):
    path, req = inbound(sent)
    return client.open(path, method=req.method, query_string=req.query_string, data=req.body, headers=req.headers)


def last_outcome(session, gateway_name: str) -> str:
    session.expire_all()
    return session.scalars(select(InboundCallback.outcome).where(InboundCallback.source == gateway_name)
                           .order_by(InboundCallback.id.desc())).first()


def tampered(sent, amount: int):
    """The same notification with one digit of its amount changed and its signature kept (the first place its
    digits appear: the test pays an amount no other field is likely to contain)."""
    method, url, kwargs = sent
    kwargs = dict(kwargs)
    old, new = str(amount), str(amount + 1)
    if "params" in kwargs:
        params = dict(kwargs["params"])
        key = next(k for k, v in params.items() if old in str(v) and "amount" in k.lower())
        params[key] = str(params[key]).replace(old, new, 1)
        kwargs["params"] = params
    elif "json" in kwargs:  # wherever the amount is (a field, or inside a signed string field)
        kwargs["json"] = json.loads(json.dumps(kwargs["json"]).replace(old, new, 1))
    else:
        data = kwargs["data"] if isinstance(kwargs["data"], bytes) else kwargs["data"].encode()
        kwargs["data"] = data.replace(old.encode(), new.encode(), 1)
    return method, url, kwargs


@pytest.fixture(params=ONLINE)
def gateway_name(request):
    return request.param


def test_the_contract_runs_every_registered_online_gateway():
    assert {"vnpay", "momo", "vietqr"} <= set(ONLINE)


def test_an_order_paid_in_the_sandbox_is_paid_once_by_its_notification(wire, client, session, gateway_name):
    payment, opened = checkout(session, gateway_name)
    assert opened.redirect_url or opened.qr_payload
    [sent] = pay_in_sandbox(wire, gateway_name, payment, opened)
    assert deliver(client, sent).status_code < 300
    session.expire_all()
    paid = session.get(Payment, payment.id)
    assert (paid.status, paid.channel, paid.paid_amount) == ("paid", gateway_name, 200_000)
    assert last_outcome(session, gateway_name) == "accepted"


def test_the_same_notification_again_is_answered_as_already_confirmed(wire, client, session, gateway_name):
    payment, opened = checkout(session, gateway_name)
    [sent] = pay_in_sandbox(wire, gateway_name, payment, opened)
    deliver(client, sent)
    answer = deliver(client, sent)
    assert answer.status_code < 300  # the gateway must not keep sending it
    assert last_outcome(session, gateway_name) == "duplicate"
    paid = session.get(Payment, payment.id)
    assert (paid.status, paid.paid_amount) == ("paid", 200_000)
    assert not (paid.flags or [])


def test_a_tampered_notification_is_refused_and_changes_nothing(wire, client, session, gateway_name):
    payment, opened = checkout(session, gateway_name, amount=173_519)
    [sent] = pay_in_sandbox(wire, gateway_name, payment, opened)
    forged = tampered(sent, payment.amount)
    _, req = inbound(forged)
    gateway = get_gateway(gateway_name, jobs.settings())
    parsed = gateway.parse_notification(
        next(iter(gateway.notifications)), req,
        lambda mid: merchants.account_for_callback(session, jobs.settings(), gateway_name, mid))
    assert (parsed.signature_valid, parsed.problem) == (False, BAD_SIGNATURE)
    deliver(client, forged)
    assert last_outcome(session, gateway_name) == "rejected"
    assert session.get(Payment, payment.id).status == "pending"


def test_a_notification_for_another_amount_pays_nothing(wire, client, session, gateway_name):
    payment, opened = checkout(session, gateway_name)
    [sent] = pay_in_sandbox(wire, gateway_name, payment, opened)
    # The request was for more than what the gateway says was paid (signed, so truly that amount).
    session.get(Payment, payment.id).amount = 250_000
    session.commit()
    assert deliver(client, sent).status_code < 500
    assert last_outcome(session, gateway_name) in ("rejected", "flagged")
    assert session.get(Payment, payment.id).status == "pending"


def test_a_cancelled_order_pays_nothing(wire, client, session, gateway_name):
    payment, opened = checkout(session, gateway_name)
    for sent in pay_in_sandbox(wire, gateway_name, payment, opened, success=False):
        deliver(client, sent)
    session.expire_all()
    assert session.get(Payment, payment.id).status in ("pending", "failed")


def test_a_query_says_what_the_sandbox_took(wire, client, session, gateway_name):
    gateway = get_gateway(gateway_name, jobs.settings())
    if not gateway.can_query:
        pytest.skip(f"{gateway_name} cannot be queried")
    payment, opened = checkout(session, gateway_name)
    pay_in_sandbox(wire, gateway_name, payment, opened)  # paid there; its notification is lost on the way
    answer = gateway.query(payment, attempts.orders_of(session, payment, gateway_name))
    assert (answer.found, answer.success, answer.amount, answer.order_ref) == (True, True, 200_000, opened.reference)


def test_a_refund_is_confirmed_by_a_query(wire, client, session, gateway_name):
    gateway = get_gateway(gateway_name, jobs.settings())
    if not gateway.can_refund:
        pytest.skip(f"{gateway_name} refunds by hand")
    payment, opened = checkout(session, gateway_name)
    [sent] = pay_in_sandbox(wire, gateway_name, payment, opened)
    deliver(client, sent)
    session.expire_all()
    refund = request_refund(session, payment.id, amount=50_000, reason="nộp thừa", actor=FINANCE, needs_approval=True)
    refund.status, refund.approved_by = "approved", "user:8"
    session.commit()
    for _ in range(3):
        execute_refund(session, refund.id, jobs.settings())
        session.commit()
        session.expire_all()
        refund = session.get(Refund, refund.id)
        if refund.status not in ("approved", "processing"):
            break
    assert refund.status == "succeeded"
    payment = session.get(Payment, payment.id)
    status = gateway.refund_status(payment, refund, attempts.paid_order(session, payment, gateway_name))
    assert status.state == "succeeded"
    assert payment.status == "partially_refunded"


def test_production_refuses_a_gateway_without_its_settings(gateway_name):
    cls = gateway_class(gateway_name)
    assert cls.required_settings, "every online gateway names the settings production must set"
    production = dataclasses.replace(jobs_free_settings(), env="production", extra={})
    problems = GATEWAYS.production_problems(production)
    assert any(p.startswith(f"the {gateway_name} gateway needs") and cls.required_settings[0] in p for p in problems)
    with pytest.raises(GatewayNotConfigured) as raised:
        cls(production).default_account()
    assert isinstance(raised.value, NotConfigured) and raised.value.setting in cls.required_settings


def jobs_free_settings():
    from core.settings import Settings

    return Settings(public_url="https://dichvucong.example.vn")
