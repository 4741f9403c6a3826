"""VietQR bank transfer (NAPAS EMVCo QR) and the collection bank's credit notifications."""

from fees.gateways.vietqr.client import VietqrGateway
from fees.gateways.vietqr.payloads import *  # noqa: F403 (the wire functions, as before the folder)

__all__ = ["VietqrGateway"]
