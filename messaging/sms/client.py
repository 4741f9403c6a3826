"""eSMS.vn over HTTP: send a customer-care SMS under the centre's brand name, and ask for its status."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from messaging.sms import payloads
from messaging.sms.payloads import SmsAnswer


class SmsError(Exception):
    """Base of SMS adapter failures."""


class SmsUnreachable(SmsError):
    """Raised when eSMS did not answer: the outcome is unknown; resend with the same RequestId."""


@dataclass
class EsmsConfig:
    base_url: str  # https://rest.esms.vn
    api_key: str
    secret_key: str
    brandname: str
    callback_url: str | None = None
    sandbox: bool = False
    timeout: float = 15.0


class EsmsClient:
    def __init__(self, config: EsmsConfig, http: requests.Session | None = None):
        self.config = config
        self.http = http or requests.Session()

    def send(self, phone: str, content: str, request_id: str) -> SmsAnswer:
        c = self.config
        body = payloads.send_body(api_key=c.api_key, secret_key=c.secret_key, brandname=c.brandname, phone=phone,
                                  content=content, request_id=request_id, callback_url=c.callback_url,
                                  sandbox=c.sandbox)
        try:
            resp = self.http.post(f"{c.base_url.rstrip('/')}{payloads.SEND_PATH}", json=body, timeout=c.timeout)
        except requests.RequestException as e:
            raise SmsUnreachable(f"esms: {type(e).__name__}") from e
        if resp.status_code >= 500:
            raise SmsUnreachable(f"esms: HTTP {resp.status_code}")
        try:
            return payloads.parse_send(resp.json())
        except ValueError as e:
            raise SmsUnreachable("esms: answer is not JSON") from e

    def status(self, sms_id: str) -> str | None:
        c = self.config
        try:
            resp = self.http.get(f"{c.base_url.rstrip('/')}{payloads.STATUS_PATH}",
                                 params={"RefId": sms_id, "ApiKey": c.api_key, "SecretKey": c.secret_key},
                                 timeout=c.timeout)
            return payloads.parse_status(resp.json())
        except (requests.RequestException, ValueError) as e:
            raise SmsUnreachable(f"esms status: {type(e).__name__}") from e
