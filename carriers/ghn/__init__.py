"""GHN (Giao Hàng Nhanh): Token and ShopId headers, fees and services, orders by client code, webhooks."""

from carriers.ghn.client import GhnCarrier

__all__ = ["GhnCarrier"]
