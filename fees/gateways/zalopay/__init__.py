"""ZaloPay (Công ty Cổ phần ZION): the ZaloPay wallet and payment gateway, merchant API v2."""

from fees.gateways.zalopay.client import ZalopayGateway

__all__ = ["ZalopayGateway"]
