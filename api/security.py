"""Browser-facing defences: security headers on every response, and throttling of guessable entry points."""

from __future__ import annotations

import logging
import math
import time
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from core.settings import Setting, Settings, SettingsError, register_settings
from fees.gateways.base import checkout_urls

log = logging.getLogger(__name__)

register_settings(
    Setting("HCC_SESSION_IDLE_MINUTES", "30", "A staff session unused for this long ends (sign in again)."),
    Setting("HCC_SESSION_MAX_HOURS", "12", "A staff session ends this long after sign-in, however busy."),
    Setting("HCC_LOGIN_MAX_FAILURES", "10",
            "Failed sign-ins in a row that lock an account until `hcc users unlock` (or an administrator) frees it."),
    Setting("HCC_RATELIMIT_ENABLED", "1", "Throttle sign-in, API-key failures, receipt lookup and verification, pay pages."),
    Setting("HCC_RATELIMIT_STORAGE_URL", "memory:// (development); required in production",
            "Where throttling counts are kept, shared by every worker: `redis://host:6379/1` in production."),
    Setting("HCC_RATELIMIT_SIGN_IN", "10 per minute; 50 per hour", "Failed staff sign-ins per client address."),
    Setting("HCC_RATELIMIT_API_KEY_FAILURES", "10 per minute; 100 per hour",
            "Requests with a wrong API key per client address (then every request from it waits)."),
    Setting("HCC_RATELIMIT_RECEIPT_LOOKUP", "30 per minute; 300 per hour",
            "Receipt and parcel lookups (/r/<code>, /t/<code>) per client address."),
    Setting("HCC_RATELIMIT_RECEIPT_VERIFY", "10 per minute; 100 per hour",
            "Receipt verification uploads (page and API) per client address."),
    Setting("HCC_RATELIMIT_PAY_PAGES", "60 per minute", "Citizen pay page views (/pay/<code>...) per client address."),
    Setting("HCC_RATELIMIT_PAY_START", "10 per minute", "Payments started at a gateway per client address."),
    Setting("HCC_TRUSTED_PROXIES", "0",
            "Reverse proxies in front of the service (nginx: 1); their X-Forwarded-For names the client to throttle and audit."),
    Setting("HCC_CSP_FORM_ACTION", "(none)",
            "Extra origins pay forms may lead to, space-separated (the VNPAY and MoMo URLs are added by themselves)."),
)

# What each throttled entry point is limited by: (URL rule, methods, setting, count only failures).
# Citizens reach payments and receipts by an unguessable code; these limits make guessing and flooding slow.
THROTTLED: list[tuple[str, tuple[str, ...], str, bool]] = [
    ("/staff/login", ("POST",), "HCC_RATELIMIT_SIGN_IN", True),
    ("/r/<code>", ("GET",), "HCC_RATELIMIT_RECEIPT_LOOKUP", False),
    ("/r/<code>", ("POST",), "HCC_RATELIMIT_RECEIPT_VERIFY", False),
    ("/r/<code>/pdf", ("GET",), "HCC_RATELIMIT_RECEIPT_LOOKUP", False),
    ("/api/v1/receipts/verify", ("POST",), "HCC_RATELIMIT_RECEIPT_VERIFY", False),
    ("/t/<code>", ("GET",), "HCC_RATELIMIT_RECEIPT_LOOKUP", False),
    ("/pay/<code>", ("GET",), "HCC_RATELIMIT_PAY_PAGES", False),
    ("/pay/<code>/result", ("GET",), "HCC_RATELIMIT_PAY_PAGES", False),
    ("/pay/<code>/result.json", ("GET",), "HCC_RATELIMIT_PAY_PAGES", False),
    ("/t/", ("GET",), "HCC_RATELIMIT_RECEIPT_LOOKUP", False),
    ("/pay/<code>/vietqr.png", ("GET",), "HCC_RATELIMIT_PAY_PAGES", False),
    ("/pay/<code>/<channel>", ("POST",), "HCC_RATELIMIT_PAY_START", False),
]


def _default(name: str) -> str:
    from core.settings import SETTINGS

    return SETTINGS[name].default


def _client_address() -> str:
    return request.remote_addr or "unknown"


def init_app(app: Flask, settings: Settings) -> None:
    """Headers and throttling; call after every blueprint is registered (limits attach to their views)."""
    proxies = settings.get_int("HCC_TRUSTED_PROXIES", 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.after_request(_security_headers)
    _init_limiter(app, settings)


# --- headers ----------------------------------------------------------------------------------------------

PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                      "microphone=(), payment=(), usb=()")
# Documents we do not write ourselves (PDF, images) are shown by the browser's own viewer, which needs
# its inline styles and plugin; they may still never be framed.
VIEWER_CSP = "frame-ancestors 'none'"
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def form_action_origins(settings: Settings) -> list[str]:
    """Where a form of ours may lead: here, and the gateways the pay form's answer redirects the citizen to."""
    origins = [_origin(settings.public_url), *(_origin(u) for u in checkout_urls(settings))]
    origins += [_origin(u) for u in (settings.get("HCC_CSP_FORM_ACTION") or "").split()]
    return list(dict.fromkeys(o for o in origins if o))


def page_csp(settings: Settings) -> str:
    form_action = " ".join(["'self'", *form_action_origins(settings)])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            f"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}")


def _security_headers(resp: Response) -> Response:
    settings: Settings = current_app.extensions["hcc"].settings
    h = resp.headers
    if resp.mimetype in ("text/html", "image/svg+xml"):
        csp = page_csp(settings)
    elif resp.mimetype == "application/pdf" or resp.mimetype.startswith("image/"):
        csp = VIEWER_CSP
    else:
        csp = DATA_CSP
    h.setdefault("Content-Security-Policy", csp)
    h["X-Frame-Options"] = "DENY"
    h["X-Content-Type-Options"] = "nosniff"
    # Pay and receipt codes in our URLs are bearer secrets: never tell the next site where the citizen was.
    h["Referrer-Policy"] = "no-referrer"
    h["Permissions-Policy"] = PERMISSIONS_POLICY
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    if not request.path.startswith("/static/"):
        # Staff pages, pay and receipt pages and API answers carry personal data or codes: keep no copy.
        h["Cache-Control"] = "no-store"
        h.pop("Expires", None)
    if settings.production:
        h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return resp


# --- throttling -------------------------------------------------------------------------------------------


def _init_limiter(app: Flask, settings: Settings) -> None:
    storage = settings.get("HCC_RATELIMIT_STORAGE_URL") or "memory://"
    enabled = settings.get_bool("HCC_RATELIMIT_ENABLED", True)
    if settings.production and enabled and storage.startswith("memory://"):
        raise SettingsError("refusing to start in production: HCC_RATELIMIT_STORAGE_URL is memory://, which counts "
                            "per worker and forgets on restart; point it at Redis (redis://host:6379/1)")
    app.config.update(RATELIMIT_ENABLED=enabled, RATELIMIT_HEADERS_ENABLED=True)
    # One limiter per app: its counts belong to this app (and each test's app starts from zero).
    limiter = Limiter(_client_address, app=app, storage_uri=storage, strategy="moving-window",
                      key_prefix="hcc", swallow_errors=settings.production)
    app.extensions["hcc_limiter"] = limiter
    for path, methods, name, failures_only in THROTTLED:
        value = settings.get(name) or _default(name)
        try:
            parse_many(value)
        except ValueError as e:
            raise SettingsError(f"{name} is not a rate (e.g. '10 per minute; 50 per hour'): {value!r}") from e
        for rule in app.url_map.iter_rules():
            if rule.rule != path or not set(methods) & (rule.methods or set()):
                continue
            view = app.view_functions[rule.endpoint]
            deduct = _failed if failures_only else None
            app.view_functions[rule.endpoint] = limiter.limit(value, methods=list(methods), deduct_when=deduct,
                                                              scope=name)(view)


def _failed(resp: Response) -> bool:
    return resp.status_code in (400, 401, 403)


def _failure_limits(name: str) -> list[RateLimitItem]:
    settings: Settings = current_app.extensions["hcc"].settings
    return parse_many(settings.get(name) or _default(name))


def refuse_if_throttled(name: str) -> None:
    """Answer 429 (with Retry-After) when this client has used up its failures of kind `name`."""
    limiter: Limiter | None = current_app.extensions.get("hcc_limiter")
    if limiter is None or not limiter.enabled:
        return
    key = _client_address()
    for item in _failure_limits(name):
        if not limiter.limiter.test(item, "hcc", key, name):
            reset = limiter.limiter.get_window_stats(item, "hcc", key, name).reset_time
            log.info("throttled", extra={"limit": name})
            raise TooManyRequests(retry_after=max(1, math.ceil(reset - time.time())))


def count_failure(name: str) -> None:
    """Count one failure of kind `name` (a wrong API key) against this client."""
    limiter: Limiter | None = current_app.extensions.get("hcc_limiter")
    if limiter is None or not limiter.enabled:
        return
    key = _client_address()
    for item in _failure_limits(name):
        limiter.limiter.hit(item, "hcc", key, name)

