"""A unit's remote signing configuration and the errors of remote signing, apart from the protocols.

`receipts.remote` re-exports all of it; the protocol modules (csc, smartca) import it from here, so
that the package, which opens them, and they are not in an import cycle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from receipts.signing_base import SigningError

PROTOCOLS = ("csc", "smartca")


class RemoteSigningError(SigningError):
    """The signing service could not be reached or answered with an error."""


class AwaitingApproval(RemoteSigningError):
    """The signature waits for the subscriber's approval (SmartCA app); retry later."""


class SigningRefused(RemoteSigningError):
    """The subscriber refused the signature, or it expired unapproved; retry asks again."""


@dataclass(frozen=True)
class RemoteConfig:
    """What a unit needs to sign remotely. Kept encrypted, whole (secrets included), as JSON."""

    protocol: str  # "csc" or "smartca"
    service_url: str  # CSC: the part before /csc/v1/...; SmartCA: e.g. https://gwsca.vnpt.vn/sca/sp769
    client_id: str = ""  # CSC OAuth client id; SmartCA sp_id
    client_secret: str = ""  # CSC OAuth client secret; SmartCA sp_password
    credential_id: str = ""  # CSC credentialID; SmartCA certificate serial_number (empty: the only one)
    user_id: str = ""  # SmartCA user_id (the subscriber's identity number); unused by CSC
    pin: str = ""  # CSC PIN for credentials/authorize, when the credential wants one
    otp: str = ""  # CSC OTP, when a fixed one is issued for unattended signing (rare)
    api_version: str = "v1"  # CSC API version in the URLs
    chain_pem: str = ""  # the certificates the service returned (signing certificate, CAs), kept for verification

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> RemoteConfig:
        raw = json.loads(data.decode("utf-8"))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def describe(self) -> dict:
        """What may be shown or audited: no secret, no PIN."""
        return {"protocol": self.protocol, "service_url": self.service_url, "client_id": self.client_id,
                "credential_id": self.credential_id, "user_id": self.user_id, "api_version": self.api_version}
