"""Viettel Post: token login, getPriceAll, createOrder, UpdateOrder (cancel), printing token, webhooks."""

from carriers.viettelpost.client import ViettelpostCarrier

__all__ = ["ViettelpostCarrier"]
