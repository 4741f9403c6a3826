"""The adapter to the tax authority through an intermediary (T-VAN): send a TDiep, look up its answers.

The way T-VANs expose the exchange to providers (their SDKs: `TiepNhanThongDiep` returns the 999 technical
acknowledgement at once; `TraCuuThongDiep(MTDiep)` returns `KetQuaTraCuu` with `MaKetQua`, `MoTaKetQua` and
the tax authority's answers as `DuLieu/TDiep`, polled until the result is there). The paths and the
authentication (HTTP Basic) are assumed — see docs/tax/channel.md. In the embedded default the endpoint is
our own sandbox (/sandbox/tax); a configured endpoint is reached only through `core.outbound`.
"""

from __future__ import annotations

import logging
from base64 import b64encode
from dataclasses import dataclass

import requests
from lxml import etree

from core import outbound
from core.settings import Setting, Settings, register_production_check, register_settings

log = logging.getLogger(__name__)

register_settings(
    Setting("HCC_TAX_CHANNEL_URL", "<public url>/sandbox/tax",
            "Base URL of the T-VAN (intermediary) endpoint that relays messages to the tax authority; the sandbox "
            "when empty (not allowed in production)."),
    Setting("HCC_TAX_CHANNEL_USER", "hcc-sandbox", "User name at the T-VAN endpoint (HTTP Basic)."),
    Setting("HCC_TAX_CHANNEL_PASSWORD", "sandbox-tax", "Password at the T-VAN endpoint (HTTP Basic)."),
    Setting("HCC_TAX_SENDER_CODE", "HCCTVAN", "MNGui of our messages: the code the tax authority gave the "
            "T-VAN (1 to 14 letters or digits); every MTDiep starts with it."),
    Setting("HCC_TAX_TIMEOUT", "20", "Seconds to wait for the T-VAN to answer one request."),
)

SEND_PATH = "/tiep-nhan-thong-diep"
LOOKUP_PATH = "/tra-cuu-thong-diep"


class ChannelError(Exception):
    """Raised when the channel could not take or answer a request."""


class RetryableChannelError(ChannelError):
    """Raised when the channel is down, slow or overloaded (timeout, connection refused, 5xx, 429): try again."""


class PermanentChannelError(ChannelError):
    """Raised when the channel refuses the request itself (4xx, an answer that is not XML): trying again is useless."""


@dataclass(frozen=True)
class ChannelConfig:
    base_url: str
    user: str
    password: str
    timeout: float
    sandbox: bool


def config(settings: Settings) -> ChannelConfig:
    url = (settings.get("HCC_TAX_CHANNEL_URL") or "").strip()
    return ChannelConfig(base_url=(url or f"{settings.public_url}/sandbox/tax").rstrip("/"),
                         user=settings.get("HCC_TAX_CHANNEL_USER") or "hcc-sandbox",
                         password=settings.get("HCC_TAX_CHANNEL_PASSWORD") or "sandbox-tax",
                         timeout=float(settings.get("HCC_TAX_TIMEOUT") or 20), sandbox=not url)


def sender_code(settings: Settings) -> str:
    return settings.get("HCC_TAX_SENDER_CODE") or "HCCTVAN"


@register_production_check
def production_problems(settings: Settings) -> list[str]:
    """What keeps the channel from production: start-up refuses without a T-VAN (and `_post` never sends a
    production message to the sandbox either)."""
    url = (settings.get("HCC_TAX_CHANNEL_URL") or "").strip()
    if not url:
        return ["HCC_TAX_CHANNEL_URL must name the T-VAN endpoint in production (the sandbox is not the tax authority)"]
    problems = []
    if not url.startswith("https://"):
        problems.append("HCC_TAX_CHANNEL_URL must be https in production")
    if (settings.get("HCC_TAX_CHANNEL_PASSWORD") or "sandbox-tax") == "sandbox-tax":
        problems.append("HCC_TAX_CHANNEL_PASSWORD must be set in production")
    return problems


class TaxChannel:
    """Two calls: `send(tdiep) -> 999 bytes` and `lookup(mtdiep) -> [answer TDiep bytes]`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cfg = config(settings)

    def _post(self, path: str, body: bytes) -> bytes:
        token = b64encode(f"{self.cfg.user}:{self.cfg.password}".encode()).decode()
        headers = {"Content-Type": "application/xml; charset=utf-8", "Authorization": f"Basic {token}"}
        url = self.cfg.base_url + path
        if self.cfg.sandbox and self.settings.production:
            # Never the sandbox in production: the message waits (the sweep retries) until a T-VAN is configured.
            raise RetryableChannelError("HCC_TAX_CHANNEL_URL is not set: no T-VAN to send to")
        try:
            if self.cfg.sandbox:
                # Our own sandbox on our own address: not a user-supplied URL (the carriers' sandboxes likewise).
                resp = requests.post(url, data=body, headers=headers, timeout=self.cfg.timeout)
            else:
                resp = outbound.post(url, policy=outbound.Policy.from_settings(self.settings), data=body,
                                     headers=headers, timeout=self.cfg.timeout)
        except outbound.OutboundRefused as e:
            raise PermanentChannelError(f"T-VAN URL refused: {e}") from e
        except requests.RequestException as e:
            raise RetryableChannelError(f"{type(e).__name__}") from e
        if resp.status_code >= 500 or resp.status_code == 429:
            raise RetryableChannelError(f"HTTP {resp.status_code}")
        if resp.status_code >= 300:
            raise PermanentChannelError(f"HTTP {resp.status_code}")
        return resp.content

    def send(self, tdiep: bytes) -> bytes:
        """Hand one message over; the answer is its 999 acknowledgement (a repeat gets the same one back)."""
        return self._post(SEND_PATH, tdiep)

    def lookup(self, mtdiep: str) -> list[bytes]:
        """Every answer the tax authority has given so far to the message `mtdiep`, oldest first."""
        query = etree.Element("TraCuu")
        etree.SubElement(query, "MTDiep").text = mtdiep
        raw = self._post(LOOKUP_PATH, etree.tostring(query, xml_declaration=True, encoding="UTF-8"))
        return parse_lookup(raw)


def build_lookup_result(answers: list[bytes], *, code: str = "0", text: str = "Thành công") -> bytes:
    root = etree.Element("KetQuaTraCuu")
    etree.SubElement(root, "MaKetQua").text = code
    etree.SubElement(root, "MoTaKetQua").text = text
    data = etree.SubElement(root, "DuLieu")
    for raw in answers:
        data.append(etree.fromstring(raw))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def parse_lookup(raw: bytes) -> list[bytes]:
    try:
        root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as e:
        raise PermanentChannelError("lookup answer is not XML") from e
    code = (root.findtext("MaKetQua") or "").strip()
    if code != "0":
        raise RetryableChannelError(f"lookup MaKetQua {code}: {(root.findtext('MoTaKetQua') or '')[:200]}")
    return [etree.tostring(t, xml_declaration=True, encoding="UTF-8") for t in root.findall("DuLieu/TDiep")]


def channel_for(settings: Settings) -> TaxChannel:
    return _factory(settings)


_factory = TaxChannel
