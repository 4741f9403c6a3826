"""The generic sandbox pay page a new gateway's sandbox may answer with (fees/gateways/README.md)."""

from flask import render_template


def test_the_generic_sandbox_pay_page_shows_the_order_escaped_and_posts_pay_or_cancel(app):
    with app.test_request_context("/sandbox/x/pay/1"):
        page = render_template("fees/sandbox_checkout.html", title="Cổng X", amount=150_000,
                               order_ref="HCC-1<b>", description="Lệ phí <script>alert(1)</script>",
                               action="/sandbox/x/pay/1", hidden={"token": 'a"b'})
    assert "150.000" in page and "Cổng X" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page and "HCC-1&lt;b&gt;" in page
    assert 'value="a&#34;b"' in page
    assert 'name="action" value="pay"' in page and 'name="action" value="cancel"' in page


def test_a_processed_order_has_no_form(app):
    with app.test_request_context("/sandbox/x/pay/1"):
        page = render_template("fees/sandbox_checkout.html", title="Cổng X", amount=1, order_ref="A",
                               description="", action=None, hidden=None)
    assert "<form" not in page.split("<main", 1)[-1].split("</main>")[0] and "Giao dịch đã được xử lý." in page
