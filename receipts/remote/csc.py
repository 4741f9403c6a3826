"""Cloud Signature Consortium API (CSC, "Architectures and protocols for remote signature applications"
v1.0.4; v2 keeps these endpoints and field names) through pyHanko's own CSC signer.

pyHanko's `CSCSigner` calls `credentials/info` (through `fetch_certs_in_csc_credential`) and
`signatures/signHash`, with the SAD from a `CSCAuthorizationManager`; pyHanko ships none that asks the
service for it, so `_AuthorizeManager` below calls `credentials/authorize` (credentialID, numSignatures,
hash when the credential is SCAL2, PIN/OTP) with pyHanko's own request formatter and response parser.
The bearer token is OAuth 2.0 client credentials (RFC 6749 §4.4) at the `oauth2` URI the service's
`info` gives (`<service>/oauth2/token` when it gives none).

pyHanko's signer holds one aiohttp session, tied to an event loop; receipts sign on a fresh loop each
time (receipts.signing.run_async), so `RemoteCscSigner` builds a `CSCSigner` per signature with a
session of that loop. Certificates are fetched once, when the unit's signer is loaded.
"""

from __future__ import annotations

import threading
import time

import aiohttp
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCCredentialInfo,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)

from core.text import printable
from receipts.remote.config import RemoteConfig, RemoteSigningError

TIMEOUT = 30


class _AuthorizeManager(CSCAuthorizationManager):
    """Asks `credentials/authorize` for a SAD for each batch of hashes (PIN/OTP from the unit's credential)."""

    def __init__(self, session: aiohttp.ClientSession, info: CSCServiceSessionInfo, cred: CSCCredentialInfo,
                 config: RemoteConfig):
        super().__init__(info, cred)
        self._session, self._config = session, config

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        body = self.format_csc_auth_request(
            num_signatures=len(hash_b64s), pin=self._config.pin or None, otp=self._config.otp or None,
            hash_b64s=hash_b64s if self.credential_info.hash_pinning_required else None,
            description="Ký biên lai điện tử")
        data = await _post(self._session, self.csc_session_info.endpoint_url("credentials/authorize"),
                           body, self.auth_headers)
        return self.parse_csc_auth_response(data)


async def _post(session: aiohttp.ClientSession, url: str, body: dict, headers: dict) -> dict:
    try:
        async with session.post(url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                # CSC errors: {"error": ..., "error_description": ...}
                error = data if isinstance(data, dict) else {}
                # The service's own words, made one printable line (they end up in last_error and logs).
                raise RemoteSigningError(f"CSC {'/'.join(url.rsplit('/', 2)[-2:])}: HTTP {resp.status} "
                                         f"{printable(error.get('error'))[:100]}: "
                                         f"{printable(error.get('error_description'))[:300]}")
            return data
    except (aiohttp.ClientError, ValueError) as e:  # ValueError: not JSON
        raise RemoteSigningError(f"CSC service unreachable or not answering JSON: {type(e).__name__}") from e


class _Token:
    """An OAuth 2.0 access token (client credentials), renewed a minute before it expires."""

    def __init__(self, config: RemoteConfig, token_url: str):
        self._config, self._url = config, token_url
        self._value: str | None = None
        self._until = 0.0
        self._lock = threading.Lock()

    async def get(self, session: aiohttp.ClientSession) -> str:
        with self._lock:
            if self._value and time.monotonic() < self._until:
                return self._value
        form = {"grant_type": "client_credentials", "client_id": self._config.client_id,
                "client_secret": self._config.client_secret}
        try:
            async with session.post(self._url, data=form, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as resp:
                data = await resp.json(content_type=None)
                if resp.status >= 400 or "access_token" not in (data or {}):
                    error = data if isinstance(data, dict) else {}
                    raise RemoteSigningError(f"CSC oauth2/token: HTTP {resp.status} {printable(error.get('error'))[:100]}")
        except (aiohttp.ClientError, ValueError) as e:
            raise RemoteSigningError(f"CSC service unreachable or not answering JSON: {type(e).__name__}") from e
        with self._lock:
            self._value = data["access_token"]
            self._until = time.monotonic() + max(0, int(data.get("expires_in", 3600)) - 60)
            return self._value


class RemoteCscSigner(Signer):
    """A pyHanko Signer whose every signature is one `signatures/signHash` by pyHanko's CSCSigner."""

    def __init__(self, config: RemoteConfig, token: _Token, cred: CSCCredentialInfo):
        self.config, self._token, self.credential_info = config, token, cred
        super().__init__(signing_cert=cred.signing_cert, cert_registry=cred.as_cert_store())

    def _session_info(self, token: str) -> CSCServiceSessionInfo:
        return CSCServiceSessionInfo(service_url=self.config.service_url.rstrip("/"),
                                     credential_id=self.config.credential_id, oauth_token=token,
                                     api_ver=self.config.api_version or "v1")

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        if dry_run:
            return bytes(512)
        async with aiohttp.ClientSession() as session:
            info = self._session_info(await self._token.get(session))
            csc = CSCSigner(session, _AuthorizeManager(session, info, self.credential_info, self.config),
                            sign_timeout=TIMEOUT)
            try:
                return await csc.async_sign_raw(data, digest_algorithm)
            except PyHankoSigningError as e:
                raise RemoteSigningError(f"CSC signHash failed: {e}") from e


async def _open(config: RemoteConfig) -> RemoteCscSigner:
    base = config.service_url.rstrip("/")
    token_url = f"{base}/oauth2/token"
    async with aiohttp.ClientSession() as session:
        # `info` is public (no token) and names the OAuth 2.0 base URI.
        try:
            service = await _post(session, f"{base}/csc/{config.api_version or 'v1'}/info", {}, {})
            if service.get("oauth2"):
                token_url = service["oauth2"].rstrip("/") + "/oauth2/token"
        except RemoteSigningError:
            pass  # some services do not publish info; the token URL stays the default
        token = _Token(config, token_url)
        info = CSCServiceSessionInfo(service_url=base, credential_id=config.credential_id,
                                     oauth_token=await token.get(session), api_ver=config.api_version or "v1")
        try:
            cred = await fetch_certs_in_csc_credential(session, info, timeout=TIMEOUT)
        except PyHankoSigningError as e:
            raise RemoteSigningError(f"CSC credentials/info failed: {e}") from e
    return RemoteCscSigner(config, token, cred)


def open_csc_signer(config: RemoteConfig) -> RemoteCscSigner:
    from receipts.signing_base import run_async

    return run_async(_open(config))
