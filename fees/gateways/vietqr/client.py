"""VietQR bank transfer: the QR the citizen scans and the bank's signed credit notification, and its settings.

The QR and the signature are built by `payloads` (pure functions). The bank's credit names the payment by
the code in its transfer description; `fees.ipn.judge` adds credits up (MATCH_TRANSFER).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from core.settings import Setting, register_settings
from fees.gateways.base import (
    BAD_SIGNATURE,
    MALFORMED,
    MATCH_TRANSFER,
    UNKNOWN_MERCHANT,
    Checkout,
    InboundRequest,
    MerchantAccount,
    Notification,
    PaymentGateway,
    Verdict,
    WireAnswer,
    register_gateway,
    whole_dong,
)
from fees.gateways.vietqr.payloads import BANK_NAMES, emv_payload, sign_notification, transfer_description

SANDBOX_BANK_BIN = "970436"
SANDBOX_ACCOUNT = "0011000000001"
SANDBOX_ACCOUNT_NAME = "TRUNG TAM PHUC VU HANH CHINH CONG"
SANDBOX_WEBHOOK_SECRET = "SANDBOXBANKSECRET"  # noqa: S105 (the sandbox's own, refused in production)

register_settings(
    Setting("HCC_VIETQR_BANK_BIN", SANDBOX_BANK_BIN, "NAPAS BIN of the centre's collection bank (970436 = Vietcombank)."),
    Setting("HCC_VIETQR_ACCOUNT", SANDBOX_ACCOUNT, "The centre's collection account number shown in VietQR codes."),
    Setting("HCC_VIETQR_ACCOUNT_NAME", SANDBOX_ACCOUNT_NAME, "Account holder name shown beside the QR."),
    Setting("HCC_BANK_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET, "HMAC-SHA256 key the bank signs credit notifications with."),
    Setting("HCC_BANK_SANDBOX_NOTIFY_URL", "`<public_url>/callbacks/vietqr/bank`",
            "Where the bank sandbox sends credit notifications."),
)

# The judge's result -> the code of our JSON answer to the bank.
BANK_CODES = {UNKNOWN_MERCHANT: "other-account", "other_account": "other-account", "no_code": "no-code",
              "unknown_code": "unknown-code", "duplicate": "duplicate", "flagged": "flagged", "underpaid": "underpaid",
              "paid": "ok", BAD_SIGNATURE: "bad-signature", MALFORMED: "malformed"}


@register_gateway
class VietqrGateway(PaymentGateway):
    name = "vietqr"
    display_name = "VietQR"
    checkout_kind = "qr"
    notifications = {"bank": "POST"}
    merchant_id_field = "account_number"
    required_settings = ("HCC_VIETQR_BANK_BIN", "HCC_VIETQR_ACCOUNT", "HCC_BANK_WEBHOOK_SECRET")

    def default_account(self) -> MerchantAccount:
        return MerchantAccount(gateway=self.name, bank_bin=self.setting("HCC_VIETQR_BANK_BIN", SANDBOX_BANK_BIN),
                               account_number=self.setting("HCC_VIETQR_ACCOUNT", SANDBOX_ACCOUNT),
                               account_name=self.settings.get("HCC_VIETQR_ACCOUNT_NAME")
                               or SANDBOX_ACCOUNT_NAME)

    @property
    def bank_bin(self) -> str:
        return self.account.bank_bin

    @property
    def account_number(self) -> str:
        return self.account.account_number

    @property
    def account_name(self) -> str:
        return self.account.account_name

    @property
    def webhook_secret(self) -> str:
        return self.setting("HCC_BANK_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET)

    def qr_payload(self, payment) -> str:
        return emv_payload(bank_bin=self.bank_bin, account=self.account_number, amount=payment.amount,
                           description=transfer_description(payment.code))

    def checkout(self, payment, *, return_url: str = "", client_ip: str = "127.0.0.1",
                 order_ref: str | None = None) -> Checkout:
        """The QR for the payment: a transfer names the payment's code, not an order (no attempts here)."""
        return Checkout(channel=self.name, qr_payload=self.qr_payload(payment), reference=payment.code,
                        extra={"bank_bin": self.bank_bin, "bank_name": BANK_NAMES.get(self.bank_bin, self.bank_bin),
                               "account": self.account_number,
                               "account_name": self.account_name,
                               "description": transfer_description(payment.code)})

    def unit_account(self, owner: str, merchant_id: str, secrets: dict[str, str]) -> MerchantAccount:
        return MerchantAccount(gateway=self.name, owner=owner, account_number=merchant_id, **secrets)

    def parse_notification(self, kind: str, request: InboundRequest,
                           find_account: Callable[[str | None], MerchantAccount | None]) -> Notification:
        """The bank's credit notification (JSON, signed: X-Bank-Timestamp, X-Bank-Signature over
        '<timestamp>.<body>'). The credited account must be one of ours (the default or a unit's)."""
        base = dict(gateway=self.name, kind=kind, raw=request.body, match=MATCH_TRANSFER, actor_id="bank",
                    actor_name="bank notification")
        body = request.body.decode("utf-8", "replace")
        signature = request.header("X-Bank-Signature")
        expected = sign_notification(self.webhook_secret, request.header("X-Bank-Timestamp"), body)
        if not signature or not hmac.compare_digest(signature.lower(), expected):
            return Notification(signature_valid=False, problem=BAD_SIGNATURE, detail="bad signature", **base)
        try:
            data = json.loads(body)
            if not isinstance(data["reference"], str | int) or isinstance(data["reference"], bool):
                raise TypeError("the bank reference must be a string")
            reference = str(data["reference"]).strip()
            amount = whole_dong(data["amount"])
            account_number = str(data.get("account") or "")
            description = str(data.get("description") or "")
        except (ValueError, KeyError, TypeError):
            return Notification(signature_valid=True, problem=MALFORMED, **base)
        if not reference or amount <= 0:
            return Notification(signature_valid=True, problem=MALFORMED, **base)
        dedup = f"bank:{reference}"
        account = find_account(account_number) if account_number else None
        problem = UNKNOWN_MERCHANT if account_number and account is None else None
        return Notification(signature_valid=True, problem=problem, detail="credit to another account" if problem else "", order_ref=description, amount=amount, success=True,
                            transaction_ref=reference, merchant_id=account_number, account=account,
                            dedup_key=dedup, **base)

    def answer(self, notification: Notification | None, verdict: Verdict) -> WireAnswer:
        """{"success", "code"}: 200 once handled (whatever was decided), 401 for a bad signature, 400 for a
        malformed notification, 500 (the bank retries) when judging failed."""
        if verdict.outcome == "error":
            return WireAnswer(status=500, json={"success": False, "code": "error"})
        code = BANK_CODES.get(verdict.result, verdict.result)
        if verdict.result in (BAD_SIGNATURE, MALFORMED):
            return WireAnswer(status=401 if verdict.result == BAD_SIGNATURE else 400,
                              json={"success": False, "code": code})
        return WireAnswer(json={"success": True, "code": code})
