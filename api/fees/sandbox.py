"""Every registered gateway's sandbox, served under /sandbox/<PREFIX> in the embedded default.

Each gateway's `sandbox.py` (beside its client) lists its routes as plain data (fees.gateways.base:
SandboxRoute, SandboxRequest, SandboxResponse); this module only speaks HTTP for them, so a new
gateway's sandbox needs no change here. They speak the real protocols (same fields, signatures and
codes) and call our callbacks over HTTP, so every flow can be walked without credentials; going live
changes only settings. Like the real gateways they know every merchant registered with them: the
default account and each collecting unit's own (found by its merchant id through fees.merchants).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

import requests
from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request

from api.context import db_session, settings
from fees import merchants
from fees.gateways.base import (
    MerchantAccount,
    SandboxRequest,
    SandboxResponse,
    SandboxRoute,
    gateway_names,
    sandbox_module_name,
)

log = logging.getLogger(__name__)

bp = Blueprint("fees_sandbox", __name__, url_prefix="/sandbox")


@bp.before_request
def _only_in_sandbox_mode():
    if not settings().sandbox:
        abort(404)


def _notify(method: str, url: str, **kwargs) -> int | None:
    """Send a gateway notification the way the gateway would (its failure does not stop the citizen)."""
    try:
        resp = requests.request(method, url, timeout=settings().get_int("HCC_GATEWAY_TIMEOUT", 15), **kwargs)
        return resp.status_code
    except requests.RequestException:
        log.warning("sandbox could not deliver a notification", extra={"url": url})
        return None


def _merchant_finder(gateway: str):
    def find(merchant_id: str | None) -> MerchantAccount:
        """The merchant a request names; an unknown one gets the default's keys, which then fail its checks
        (invalid TmnCode / signature) as at the real gateway."""
        found = merchants.account_for_callback(db_session(), settings(), gateway,
                                               merchant_id if isinstance(merchant_id, str) else None)
        return found or merchants.default_account(settings(), gateway)

    return find


def _view(gateway: str, route: SandboxRoute):
    def view(**path_args):
        req = SandboxRequest(method=request.method, path_args=path_args, args=request.args.to_dict(),
                             form=request.form.to_dict(), json=request.get_json(silent=True),
                             body=request.get_data(), settings=settings(), merchant=_merchant_finder(gateway),
                             notify=_notify, query_string=request.query_string.decode("utf-8", "replace"))
        return _respond(route.handler(req))

    view.__name__ = f"{gateway}_{route.handler.__name__}"
    return view


def _respond(answer: SandboxResponse):
    if answer.redirect is not None:
        return redirect(answer.redirect)
    if answer.template is not None:
        # Templates autoescape: what a request carried is shown as text.
        return render_template(answer.template, **answer.context), answer.status
    if answer.json is not None:
        return jsonify(answer.json), answer.status
    return Response(answer.body or b"", status=answer.status, content_type=answer.content_type)


def mount(blueprint: Blueprint) -> list[str]:
    """Add every registered gateway's sandbox routes to `blueprint`; returns the gateways mounted."""
    mounted = []
    for name in gateway_names(online=True):  # the counter and COD have no outside side
        module_name = sandbox_module_name(name)
        try:
            if importlib.util.find_spec(module_name) is None:
                continue
        except ModuleNotFoundError:
            continue
        module = importlib.import_module(module_name)
        prefix = getattr(module, "PREFIX", name)
        for route in getattr(module, "ROUTES", []):
            view = _view(name, route)
            blueprint.add_url_rule(f"/{prefix}{route.rule}", endpoint=view.__name__, view_func=view,
                                   methods=list(route.methods))
        mounted.append(name)
    return mounted


mount(bp)
