"""In-memory transactions of the sandbox gateways (what the real gateway keeps in its own database), and the
faults a test may ask them to show (an answer forced once: a duplicate, a lost answer ...)."""

from __future__ import annotations

import threading
from collections import deque
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
    # Each refund the gateway took: {"request_id", "amount", "type", "status", "trans_id", "at"}.
    refunds: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Fault:
    """What the sandbox does to the next `operation` call of `gateway` instead of answering as usual.

    answer: the code to answer ("94", "99" for VNPAY; 40, 41, 43, 7000, 99, 1080 ... for MoMo), or "lost"
    (the request is handled, then the answer never arrives: HTTP 504, as from a proxy whose upstream timed
    out). apply: whether the request is handled as usual first (the money moves) before that answer.
    refund_status: the state the refund is left in if applied (VNPAY 05/06/09, MoMo 0/7000/...)."""

    answer: str | int
    apply: bool = False
    refund_status: str | int | None = None


class AnswerLost(Exception):
    """Raised by a sandbox function when a fault says its answer never reaches the caller."""


_txns: dict[tuple[str, str], SandboxTxn] = {}
_faults: dict[tuple[str, str], deque[Fault]] = {}


def put(txn: SandboxTxn) -> SandboxTxn:
    with _lock:
        _txns[(txn.gateway, txn.order_id)] = txn
    return txn


def get(gateway: str, order_id: str) -> SandboxTxn | None:
    with _lock:
        return _txns.get((gateway, order_id))


def exists(gateway: str, order_id: str) -> bool:
    return get(gateway, order_id) is not None


def find(gateway: str, **match) -> SandboxTxn | None:
    with _lock:
        return next((t for t in _txns.values() if t.gateway == gateway
                     and all(getattr(t, k) == v for k, v in match.items())), None)


def inject(gateway: str, operation: str, answer: str | int, *, apply: bool = False,
           refund_status: str | int | None = None) -> None:
    """Make the next `operation` ("refund", "querydr", "query", "create") of `gateway` show a fault."""
    with _lock:
        _faults.setdefault((gateway, operation), deque()).append(Fault(answer, apply, refund_status))


def next_fault(gateway: str, operation: str) -> Fault | None:
    with _lock:
        queue = _faults.get((gateway, operation))
        return queue.popleft() if queue else None


def clear() -> None:
    with _lock:
        _txns.clear()
        _faults.clear()


def all_of(gateway: str) -> list[SandboxTxn]:
    """Every transaction the sandbox keeps for `gateway` (for its settlement files)."""
    with _lock:
        return [t for t in _txns.values() if t.gateway == gateway]
