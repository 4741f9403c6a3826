"""Production start-up check of the carriers in use: each one's settings must be set, not left to the sandbox's."""

from __future__ import annotations

from carriers.base import carrier_names, required_settings
from core.settings import Settings, register_production_check

DEFAULT_CARRIERS = "vnpost,viettelpost,ghn"  # as postal.shipments.configured_carriers


@register_production_check
def carriers_configured(settings: Settings) -> list[str]:
    """Carriers in use are those of HCC_POSTAL_CARRIERS and of every per-centre HCC_POSTAL_CARRIERS_<CODE>
    (the start-up check cannot see which centres exist, so it takes them all)."""
    lists = {"HCC_POSTAL_CARRIERS": settings.get("HCC_POSTAL_CARRIERS") or DEFAULT_CARRIERS}
    lists.update({k: v for k, v in settings.extra.items() if k.startswith("HCC_POSTAL_CARRIERS_") and v})
    known, problems, used = set(carrier_names()), [], []
    for setting, raw in sorted(lists.items()):
        for name in (c.strip() for c in raw.split(",") if c.strip()):
            if name not in known:
                problems.append(f"{setting} names {name!r}, which is no carrier ({', '.join(sorted(known))})")
            elif name not in used:
                used.append(name)
    for name in used:
        missing = [s for s in required_settings(name) if not settings.get(s)]
        if missing:
            problems.append(f"the {name} carrier needs {', '.join(missing)} (unset); "
                            f"or leave it out of HCC_POSTAL_CARRIERS")
    return problems
