"""A complete production environment for tests: a real-looking signing identity and every setting set."""

from __future__ import annotations

from pathlib import Path

GOOD_SECRET = "k3Jq9-vXb2_LmT7wR4zYp8HcN1sDfGa6uE0oWiQx5yZ"

GATEWAY_SETTINGS = {
    "HCC_VNPAY_TMN_CODE": "UBNDT001", "HCC_VNPAY_HASH_SECRET": "V6Q2J8M4R9T1Z5X7C3B0N8K2L4P6H1G9",
    "HCC_VNPAY_PAY_URL": "https://pay.vnpay.vn/vpcpay.html",
    "HCC_VNPAY_API_URL": "https://merchant.vnpay.vn/merchant_webapi/api/transaction",
    "HCC_MOMO_PARTNER_CODE": "MOMOUBND01", "HCC_MOMO_ACCESS_KEY": "F8BBA842ECF85", "HCC_MOMO_SECRET_KEY": "K951B6PE1waDMi640xX08PD3vg6EkVlz",
    "HCC_MOMO_API_URL": "https://payment.momo.vn",
    "HCC_VIETQR_BANK_BIN": "970436", "HCC_VIETQR_ACCOUNT": "0071000123456", "HCC_BANK_WEBHOOK_SECRET": "b4nk-9Jx2Lq7Rt",
    "HCC_ZALOPAY_APP_ID": "2553", "HCC_ZALOPAY_KEY1": "zlp-k1-7Hq2Lx9Rt4", "HCC_ZALOPAY_KEY2": "zlp-k2-3Nf6Wq8Mz1",
    "HCC_ZALOPAY_API_URL": "https://openapi.zalopay.vn",
}
CARRIER_SETTINGS = {
    "HCC_VNPOST_BASE_URL": "https://donhang.vnpost.vn/api", "HCC_VNPOST_CLIENT_ID": "ubnd-tinh",
    "HCC_VNPOST_CLIENT_SECRET": "vnp-7Hq2Lx9", "HCC_VNPOST_CUSTOMER_CODE": "C012345",
    "HCC_VIETTELPOST_BASE_URL": "https://partner.viettelpost.vn", "HCC_VIETTELPOST_USERNAME": "ubnd-tinh",
    "HCC_VIETTELPOST_PASSWORD": "vtp-4Kd8Mz1", "HCC_VIETTELPOST_WEBHOOK_SECRET": "vtp-hook-3Nf6",
    "HCC_GHN_BASE_URL": "https://online-gateway.ghn.vn", "HCC_GHN_TOKEN": "ghn-2Rp5Wq8", "HCC_GHN_SHOP_ID": "190283",
    "HCC_GHN_WEBHOOK_SECRET": "ghn-hook-8Tz1",
}
TAX_SETTINGS = {
    "HCC_TAX_CHANNEL_URL": "https://tvan.example.vn/api", "HCC_TAX_CHANNEL_USER": "ubnd-tinh",
    "HCC_TAX_CHANNEL_PASSWORD": "tvan-7Kp2Qz",
}


def provider_pkcs12(folder: Path, password: bytes = b"pw") -> Path:
    """A PKCS#12 issued by a stand-in for a real certificate provider (not marked as development)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    from core.devcert import make_ca, make_signing_cert

    ca_key, ca = make_ca("Provider CA", development=False)
    key, cert = make_signing_cert(ca_key, ca, "UBND tỉnh", "Ký biên lai", development=False)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "real.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"k", key, cert, [ca],
                                                           serialization.BestAvailableEncryption(password)))
    return path


def production_env(folder: Path, **overrides: str | None) -> dict[str, str]:
    """Environment of a deployment that may start; `NAME=None` leaves a setting out."""
    env = {"HCC_ENV": "production", "HCC_INSTANCE_DIR": str(folder), "HCC_SECRET_KEY": GOOD_SECRET,
           "HCC_SIGNING_PKCS12": str(provider_pkcs12(folder)), "HCC_SIGNING_PKCS12_PASSWORD": "pw",
           **GATEWAY_SETTINGS, **CARRIER_SETTINGS, **TAX_SETTINGS}
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env
