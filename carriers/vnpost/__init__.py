"""VNPost (Bưu điện Việt Nam), the public postal service: the default carrier for administrative results."""

from carriers.vnpost.client import VnpostCarrier

__all__ = ["VnpostCarrier"]
