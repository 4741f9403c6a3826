"""Settings of fee collection as a whole (registered here so `hcc settings` and the README table list them).

Each gateway declares its own settings in its folder (fees/gateways/<name>/client.py); this module keeps
what is not one gateway's, and the production check that every registered gateway has its settings.
"""

from core.settings import Setting, Settings, register_production_check, register_settings

register_settings(
    Setting("HCC_PAYMENT_EXPIRY_MINUTES", "1440", "Minutes after which an unpaid online payment request expires."),
    Setting("HCC_REFUND_NEEDS_APPROVAL", "1", "A refund must be approved by a second finance user before it is sent."),
    Setting("HCC_GATEWAY_TIMEOUT", "15", "Seconds to wait for a gateway's API before treating it as down."),
    Setting("HCC_WEBHOOK_TIMEOUT", "10", "Seconds to wait for an integrating system's webhook endpoint."),
)


@register_production_check
def gateways_configured(settings: Settings) -> list[str]:
    """Every registered gateway is offered to citizens (there is no setting to switch one off), so each
    must have all its settings in production: the one rule of core.adapters, as for carriers. A gateway
    whose setting is unset all the same refuses to work (GatewayNotConfigured) instead of using the
    sandbox's value."""
    from fees.gateways.base import GATEWAYS

    return GATEWAYS.production_problems(settings)
