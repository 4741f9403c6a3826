"""MoMo (Công ty Cổ phần Dịch vụ Di Động Trực Tuyến): the MoMo e-wallet, payment gateway API v2."""

from fees.gateways.momo.client import MomoGateway
from fees.gateways.momo.payloads import *  # noqa: F403 (the wire functions, as before the folder)

__all__ = ["MomoGateway"]
