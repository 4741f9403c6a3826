"""The collection bank's side for VietQR: a bank app's transfer screen, and the signed credit notification
the bank sends us for each incoming transfer (X-Bank-Timestamp, X-Bank-Signature over '<timestamp>.<body>').

Mounted under /sandbox/bank (PREFIX) by api/fees/sandbox.py; like the bank it credits the account the QR
names, the default one or a collecting unit's.
"""

from __future__ import annotations

import json
import secrets
import time

from core.settings import Settings
from fees.gateways.base import Checkout, SandboxRequest, SandboxResponse, SandboxRoute
from fees.gateways.vietqr.client import VietqrGateway
from fees.gateways.vietqr.payloads import sign_notification

PREFIX = "bank"


def credit_notification(settings: Settings, *, amount: int, description: str, account: str | None = None,
                        reference: str | None = None) -> tuple[str, bytes, dict[str, str]]:
    """The bank's notification of one credit: (url, body, headers), signed with the webhook secret."""
    gw = VietqrGateway(settings)
    body = json.dumps({"reference": reference or f"FT{secrets.randbelow(10**12):012d}",
                       "account": account or gw.account_number, "amount": amount, "description": description,
                       "transaction_time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, ensure_ascii=False)
    ts = str(int(time.time()))
    url = settings.get("HCC_BANK_SANDBOX_NOTIFY_URL") or f"{settings.public_url}/callbacks/vietqr/bank"
    return url, body.encode(), {"Content-Type": "application/json", "X-Bank-Timestamp": ts,
                                "X-Bank-Signature": sign_notification(gw.webhook_secret, ts, body)}


def transfer(req: SandboxRequest) -> SandboxResponse:
    """A bank app's transfer screen: the citizen sends money with the description from the QR, to the
    account the QR names (the default one or a unit's)."""
    form = req.form if req.method == "POST" else req.args
    gw = VietqrGateway(req.settings, req.merchant(form.get("account") or None))
    if req.method == "POST":
        try:
            amount = int(req.form.get("amount", "0"))
        except ValueError:
            return SandboxResponse(status=400, body=b"amount is not a whole number")
        url, body, headers = credit_notification(req.settings, amount=amount,
                                                 description=req.form.get("description", ""),
                                                 account=gw.account_number)
        status = req.notify("POST", url, data=body, headers=headers)
        back = req.form.get("back") or "/"
        if not back.startswith("/") or back.startswith("//"):
            back = "/"  # only a page of this service: never an open redirect
        return SandboxResponse(template="fees/sandbox_bank.html", context={
            "sent": True, "status": status, "back": back, "gw": gw, "amount": amount,
            "description": req.form.get("description", "")})
    return SandboxResponse(template="fees/sandbox_bank.html", context={
        "sent": False, "gw": gw, "amount": req.args.get("amount", ""), "description": req.args.get("description", ""),
        "back": req.args.get("back", "/")})


ROUTES = [SandboxRoute("/transfer", ("GET", "POST"), transfer)]


def citizen_pays(checkout: Checkout, *, amount: int, settings: Settings, success: bool = True) -> list[tuple[str, str, dict]]:
    """The bank app's request that transfers the QR's amount with its description (nothing when the citizen
    gives up: a bank sends nothing for a transfer never made)."""
    if not success:
        return []
    return [("POST", f"{settings.public_url}/sandbox/{PREFIX}/transfer",
             {"amount": str(amount), "description": checkout.extra["description"], "account": checkout.extra["account"]})]
