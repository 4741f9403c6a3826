"""ZNS over HTTP: send one template message, refreshing the OA access token once when Zalo refuses it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import requests

from core.clock import utcnow
from messaging.zalo import payloads
from messaging.zalo.payloads import TokenPair, ZnsAnswer


class ZaloError(Exception):
    """Base of ZNS adapter failures."""


class ZaloUnreachable(ZaloError):
    """Raised when Zalo did not answer (network, 5xx, not JSON): the outcome of a send is unknown."""


class ZaloTokenRefused(ZaloError):
    """Raised when the refresh token itself is refused: an administrator must authorise the app again."""


class TokenStore(Protocol):
    def current(self) -> tuple[str | None, str]:
        """(access token or None, refresh token)."""

    def save(self, pair: TokenPair) -> None:
        """Keep the new pair: the old refresh token no longer works once a refresh succeeded."""


@dataclass
class ZaloConfig:
    api_base: str      # https://business.openapi.zalo.me
    oauth_base: str    # https://oauth.zaloapp.com
    app_id: str
    secret_key: str
    timeout: float = 15.0


class ZnsClient:
    def __init__(self, config: ZaloConfig, tokens: TokenStore, http: requests.Session | None = None):
        self.config, self.tokens = config, tokens
        self.http = http or requests.Session()

    def refresh(self) -> str:
        _, refresh_token = self.tokens.current()
        try:
            resp = self.http.post(f"{self.config.oauth_base.rstrip('/')}{payloads.REFRESH_PATH}",
                                  data=payloads.refresh_form(self.config.app_id, refresh_token),
                                  headers={"secret_key": self.config.secret_key}, timeout=self.config.timeout)
            body = resp.json()
        except (requests.RequestException, ValueError) as e:
            raise ZaloUnreachable(f"zalo oauth: {type(e).__name__}") from e
        pair = payloads.parse_refresh(body)
        if pair is None:
            raise ZaloTokenRefused(f"zalo oauth refused the refresh token (error {body.get('error')!r})"
                                   if isinstance(body, dict) else "zalo oauth: no token")
        self.tokens.save(pair)
        return pair.access_token

    def _post_send(self, access_token: str, body: dict) -> ZnsAnswer:
        try:
            resp = self.http.post(f"{self.config.api_base.rstrip('/')}{payloads.SEND_PATH}", json=body,
                                  headers={"access_token": access_token}, timeout=self.config.timeout)
        except requests.RequestException as e:
            raise ZaloUnreachable(f"zalo: {type(e).__name__}") from e
        if resp.status_code >= 500:
            raise ZaloUnreachable(f"zalo: HTTP {resp.status_code}")
        try:
            return payloads.parse_send(resp.json())
        except ValueError as e:
            raise ZaloUnreachable("zalo: answer is not JSON") from e

    def send(self, phone: str, template_id: str, data: dict, tracking_id: str) -> ZnsAnswer:
        """One template message. A refused token costs one refresh and one more call (never more)."""
        body = payloads.send_body(phone, template_id, data, tracking_id)
        access_token, _ = self.tokens.current()
        if not access_token:
            access_token = self.refresh()
        answer = self._post_send(access_token, body)
        if answer.kind == "token":
            answer = self._post_send(self.refresh(), body)
        return answer


def expires_at(pair: TokenPair):
    return utcnow() + timedelta(seconds=max(0, pair.expires_in - 300))
