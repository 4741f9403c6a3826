"""Every answer carries the security headers: a strict CSP on pages, no framing, no sniffing, no referrer, no caching."""

import pytest

from api.security import page_csp
from tests.factories import make_api_key, make_user, sign_in

ALWAYS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _check(r, path):
    for name, value in ALWAYS.items():
        assert r.headers.get(name) == value, (path, name)
    assert "Permissions-Policy" in r.headers, path
    csp = r.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, path
    if r.mimetype == "text/html":
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'", path
        assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'", path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
    if not path.startswith("/static/"):
        assert r.headers.get("Cache-Control") == "no-store", path
    assert "Strict-Transport-Security" not in r.headers  # development: plain HTTP is allowed
    r.close()


def _get_routes_without_arguments(app):
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not rule.arguments:
            yield rule.rule


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_get_route_without_arguments_carries_the_headers(app, client, session, signed_in):
    if signed_in:
        make_user(session, username="quantri", roles=("admin",))
        sign_in(client, "quantri")
    paths = sorted(set(_get_routes_without_arguments(app)))
    assert "/staff/login" in paths and "/api/v1/openapi.json" in paths
    for path in paths:
        if path == "/staff/logout":
            continue
        r = client.get(path)
        _check(r, path)


def test_routes_with_codes_errors_and_static_files_carry_the_headers(app, client, session):
    key = make_api_key(session)
    for path in ("/pay/KHONGCO", "/r/KHONGCO", "/r/KHONGCO/pdf", "/t/KHONGCO", "/staff/receipts/1",
                 "/static/style.css", "/khong-co-trang-nay"):
        _check(client.get(path), path)
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    _check(r, "/api/v1/me")
    _check(client.post("/api/v1/addresses/resolve", json={}), "/api/v1/addresses/resolve")


def test_a_receipt_pdf_stays_viewable_but_unframeable(app):
    """Chrome's PDF viewer needs its own plugin and inline styles: the PDF gets no page CSP, only no framing."""
    from flask import Response

    with app.test_request_context("/r/X/pdf"):
        r = app.process_response(Response(b"%PDF-1.7", mimetype="application/pdf"))
    assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"


def test_pay_forms_may_lead_to_the_configured_gateways(settings):
    settings.extra.update(HCC_VNPAY_PAY_URL="https://pay.vnpay.vn/vpcpay.html",
                          HCC_MOMO_API_URL="https://payment.momo.vn")
    form_action = next(d for d in page_csp(settings).split(";") if d.strip().startswith("form-action"))
    # Each registered gateway says where its checkout sends the browser (VNPAY's and MoMo's from their
    # settings, ZaloPay's fixed pay-page hosts): a gateway added by its registration line is allowed too.
    assert form_action.split()[1:] == ["'self'", "http://localhost", "https://pay.vnpay.vn", "https://payment.momo.vn",
                                       "https://gateway.zalopay.vn", "https://sbgateway.zalopay.vn",
                                       "https://qcgateway.zalopay.vn"]


def test_production_adds_strict_transport_security(app, client):
    app.extensions["hcc"].settings.env = "production"
    r = client.get("/staff/login")
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
