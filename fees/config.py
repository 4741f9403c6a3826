"""Settings of fee collection (registered here so `hcc settings` and the README table list them)."""

from core.settings import Setting, Settings, register_production_check, register_settings

# These are the deployment's default merchant accounts: a collecting unit with its own (VNPAY/MoMo ids in
# its `gateway`, secrets as its credentials, a bank account in its bank_* columns) is paid into that one
# instead (fees.merchants). They default to the sandboxes' values in the embedded default; in production
# every one must be set: the start-up check below names each missing one, and should one be unset all the
# same, the gateway refuses to work (fees.gateways.base.GatewayNotConfigured) instead of using the sandbox's.
register_settings(
    Setting("HCC_PAYMENT_EXPIRY_MINUTES", "1440", "Minutes after which an unpaid online payment request expires."),
    Setting("HCC_REFUND_NEEDS_APPROVAL", "1", "A refund must be approved by a second finance user before it is sent."),
    Setting("HCC_VNPAY_TMN_CODE", "HCCSBX01", "VNPAY merchant (terminal) code."),
    Setting("HCC_VNPAY_HASH_SECRET", "SANDBOXVNPAYSECRETHCC0000000000", "VNPAY hash secret (HMAC-SHA512 key)."),
    Setting("HCC_VNPAY_PAY_URL", "`<public_url>/sandbox/vnpay/paymentv2/vpcpay.html`",
            "VNPAY payment page; production: https://pay.vnpay.vn/vpcpay.html."),
    Setting("HCC_VNPAY_API_URL", "`<public_url>/sandbox/vnpay/merchant_webapi/api/transaction`",
            "VNPAY querydr/refund API; production: https://merchant.vnpay.vn/merchant_webapi/api/transaction."),
    Setting("HCC_MOMO_PARTNER_CODE", "MOMOHCCSBX", "MoMo partner code."),
    Setting("HCC_MOMO_ACCESS_KEY", "SANDBOXMOMOACCESS", "MoMo access key."),
    Setting("HCC_MOMO_SECRET_KEY", "SANDBOXMOMOSECRETKEYHCC", "MoMo secret key (HMAC-SHA256 key)."),
    Setting("HCC_MOMO_API_URL", "`<public_url>/sandbox/momo`",
            "MoMo API base (…/v2/gateway/api/create); production: https://payment.momo.vn."),
    Setting("HCC_VIETQR_BANK_BIN", "970436", "NAPAS BIN of the centre's collection bank (970436 = Vietcombank)."),
    Setting("HCC_VIETQR_ACCOUNT", "0011000000001", "The centre's collection account number shown in VietQR codes."),
    Setting("HCC_VIETQR_ACCOUNT_NAME", "TRUNG TAM PHUC VU HANH CHINH CONG", "Account holder name shown beside the QR."),
    Setting("HCC_BANK_WEBHOOK_SECRET", "SANDBOXBANKSECRET", "HMAC-SHA256 key the bank signs credit notifications with."),
    Setting("HCC_VNPAY_SANDBOX_IPN_URL", "`<public_url>/callbacks/vnpay/ipn`",
            "Where the VNPAY sandbox sends IPNs (VNPAY itself takes the IPN URL from the merchant registration)."),
    Setting("HCC_BANK_SANDBOX_NOTIFY_URL", "`<public_url>/callbacks/vietqr/bank`",
            "Where the bank sandbox sends credit notifications."),
    Setting("HCC_GATEWAY_TIMEOUT", "15", "Seconds to wait for a gateway's API before treating it as down."),
    Setting("HCC_WEBHOOK_TIMEOUT", "10", "Seconds to wait for an integrating system's webhook endpoint."),
)


@register_production_check
def gateways_configured(settings: Settings) -> list[str]:
    """Every registered gateway is offered to citizens (there is no setting to switch one off), so each
    must have all its settings in production."""
    from fees.gateways.base import gateway_class, gateway_names

    problems = []
    for name in gateway_names():
        missing = [s for s in gateway_class(name).required_settings if not settings.get(s)]
        if missing:
            problems.append(f"the {name} gateway needs {', '.join(missing)} (unset)")
    return problems
