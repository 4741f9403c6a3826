"""VNPAY (Công ty Cổ phần Giải pháp Thanh toán Việt Nam): card, internet banking and QR payments, version 2.1.0."""

from fees.gateways.vnpay.client import VnpayGateway
from fees.gateways.vnpay.payloads import *  # noqa: F403 (the wire functions, as before the folder)

__all__ = ["VnpayGateway"]
