"""In-memory transactions of the sandbox gateways (what the real gateway keeps in its own database)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

_lock = threading.Lock()


@dataclass
class SandboxTxn:
    gateway: str
    order_id: str
    amount: int
    status: str = "pending"  # pending, paid, cancelled
    transaction_no: str | None = None
    pay_date: str | None = None
    refunded: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    refund_requests: set[str] = field(default_factory=set)


_txns: dict[tuple[str, str], SandboxTxn] = {}


def put(txn: SandboxTxn) -> SandboxTxn:
    with _lock:
        _txns[(txn.gateway, txn.order_id)] = txn
    return txn


def get(gateway: str, order_id: str) -> SandboxTxn | None:
    with _lock:
        return _txns.get((gateway, order_id))


def exists(gateway: str, order_id: str) -> bool:
    return get(gateway, order_id) is not None


def clear() -> None:
    with _lock:
        _txns.clear()
