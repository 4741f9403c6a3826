"""Delivery: the payer's mailbox receives the signed PDF over real SMTP; a mail server that is down
delays the e-mail but never the receipt."""

from __future__ import annotations

import email
import socket

import pytest
from sqlalchemy import select

from core.models import OutboundMessage
from receipts.issuance import read_pdf, receipt_id_for_payment
from receipts.models import Receipt
from tests.receipts.factories import paid_payment


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.extra.update({"HCC_SMTP_HOST": "127.0.0.1", "HCC_SMTP_PORT": str(port)})
    yield box
    controller.stop()


def test_the_payer_receives_the_signed_pdf_by_email(session, settings, smtp_server):
    p = paid_payment(session, payer_email="nhung@example.vn")
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail["To"] == "nhung@example.vn"
    subject = str(email.header.make_header(email.header.decode_header(mail["Subject"])))
    assert f"số {r.number_text}" in subject
    parts = [part for part in mail.walk() if part.get_content_type() == "application/pdf"]
    assert len(parts) == 1
    assert parts[0].get_payload(decode=True) == read_pdf(settings, r)


def test_a_mail_server_that_is_down_does_not_stop_the_receipt(session, settings):
    settings.extra.update({"HCC_SMTP_HOST": "127.0.0.1", "HCC_SMTP_PORT": str(_free_port())})  # nobody listens
    p = paid_payment(session, payer_email="nhung@example.vn")
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    assert r.status == "issued"
    mail = session.scalars(select(OutboundMessage).where(OutboundMessage.channel == "email")).one()
    assert mail.status == "pending" and mail.attempts == 1 and mail.last_error  # retried later
    sms = session.scalars(select(OutboundMessage).where(OutboundMessage.channel == "sms",
                                                        OutboundMessage.purpose == "receipt-issued")).one()
    assert sms.status == "sent"
