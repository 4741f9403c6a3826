"""Payment gateways behind one interface (`base.PaymentGateway`) and a registry by name."""

from fees.gateways.base import (
    DuplicateError,
    GatewayError,
    MerchantAccount,
    PaymentGateway,
    PermanentGatewayError,
    RetryableGatewayError,
    get_gateway,
    register_gateway,
)

__all__ = ["DuplicateError", "GatewayError", "MerchantAccount", "PaymentGateway", "PermanentGatewayError", "RetryableGatewayError",
           "get_gateway", "register_gateway"]
