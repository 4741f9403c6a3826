"""A PKCS#11 token's signing certificate read at set-up time, and why a token could not be opened, in Vietnamese.

Both province.units (which checks a unit's token when it is configured) and receipts.signing (which signs
on it) name the failure the same way, so staff read the same reason in the CLI and on a blocked receipt.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509


class TokenError(Exception):
    """Raised when a token cannot be opened or logged in to, or lacks the named key or certificate."""

    def __init__(self, reason: str, field: str = "pkcs11_module"):
        super().__init__(reason)
        self.reason = reason
        self.field = field  # the configuration field at fault, for a form or a CLI error list


def describe(e: BaseException) -> tuple[str, str]:
    """(reason in Vietnamese, field at fault) for an exception from python-pkcs11 or pyHanko's PKCS#11 layer."""
    if isinstance(e, TokenError):
        return e.reason, e.field
    name = type(e).__name__
    if name in ("PinIncorrect", "PinInvalid", "PinLenRange"):
        return "sai mã PIN", "signing_pkcs11_pin"
    if name == "PinLocked":
        return "mã PIN đã bị khóa (nhập sai quá số lần cho phép)", "signing_pkcs11_pin"
    if name == "PinExpired":
        return "mã PIN đã hết hạn", "signing_pkcs11_pin"
    if name in ("NoSuchToken", "TokenNotPresent", "TokenNotRecognised", "MultipleTokensReturned") or \
            "No token" in str(e):
        return "không tìm thấy token theo số khe/nhãn đã khai", "pkcs11_token_label"
    if "loading" in str(e) or isinstance(e, OSError):  # python-pkcs11 wraps dlopen's failure
        return "không nạp được thư viện PKCS#11", "pkcs11_module"
    if "private key" in str(e):
        return "không tìm thấy khóa ký theo nhãn đã khai", "pkcs11_key_label"
    if "certificate" in str(e):
        return "không tìm thấy chứng thư số theo nhãn đã khai", "pkcs11_cert_label"
    return f"lỗi PKCS#11 {name}", "pkcs11_module"


@dataclass(frozen=True)
class TokenCertificates:
    """The signing certificate found on a token and the other certificates it holds (often the CA's)."""

    signing_cert: x509.Certificate
    others: list[x509.Certificate]


def read_certificates(module: str, *, pin: str | None, slot: int | None = None, token_label: str | None = None,
                      key_label: str | None = None, cert_label: str | None = None) -> TokenCertificates:
    """Log in to the token, check the private key is there, read the certificates, and log out.

    Raises TokenError with the reason (describe) for anything that would stop the token from signing.
    """
    from pkcs11 import Attribute, ObjectClass
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import open_pkcs11_session

    cert_label = cert_label or key_label
    key_label = key_label or cert_label
    try:
        session = open_pkcs11_session(module, slot_no=slot,
                                      token_criteria=TokenCriteria(label=token_label) if token_label else None,
                                      user_pin=pin)
    except Exception as e:  # python-pkcs11 raises many unrelated classes
        if type(e).__name__ != "UserAlreadyLoggedIn":
            raise TokenError(*describe(e)) from e
        # This process is logged in to the token already (a signer loaded from it): login is per token, so the
        # PIN cannot be checked again here; the certificate is still read, and the signer checks the PIN when
        # it logs in with it.
        session = open_pkcs11_session(module, slot_no=slot,
                                      token_criteria=TokenCriteria(label=token_label) if token_label else None)
    try:
        key_query = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
        if key_label:
            key_query[Attribute.LABEL] = key_label
        if len(list(session.get_objects(key_query))) != 1:
            raise TokenError("không tìm thấy đúng một khóa ký theo nhãn đã khai", field="pkcs11_key_label")
        certs = [x509.load_der_x509_certificate(bytes(o[Attribute.VALUE])) for o in
                 session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})]
        labelled = [x509.load_der_x509_certificate(bytes(o[Attribute.VALUE])) for o in
                    session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: cert_label})] \
            if cert_label else certs
    except TokenError:
        raise
    except Exception as e:
        raise TokenError(*describe(e)) from e
    finally:
        session.close()
    if len(labelled) != 1:
        raise TokenError("không tìm thấy đúng một chứng thư số theo nhãn đã khai", field="pkcs11_cert_label")
    signing = labelled[0]
    return TokenCertificates(signing, [c for c in certs if c != signing])
