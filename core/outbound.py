"""Outbound HTTP to URLs that users supplied (webhook endpoints): internal addresses are refused, and the
connection goes to the very address that was checked.

A URL is checked twice: when it is registered (`check_url`) and every time it is called (`post`). At
send time the host is resolved again, every address is checked, and the connection is pinned to a
checked address while the request still carries the original name in its Host header, TLS SNI and
certificate check; so a DNS answer that changes between the check and the connection (DNS rebinding)
reaches nothing it should not. Redirects are not followed: a 3xx is the caller's failed attempt.
See docs/security/outbound-urls.md.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from core.settings import Setting, Settings, SettingsError, register_production_check, register_settings

register_settings(
    Setting("HCC_WEBHOOK_ALLOWED_NETWORKS", "(empty: public addresses only)",
            "Comma-separated CIDRs (`10.20.0.0/16,fd00:1::/64`) that webhook URLs may reach although they are "
            "private, loopback or otherwise internal; for a one-stop system on the province's own network."),
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

@register_production_check
def _allowed_networks_parse(settings: Settings) -> list[str]:
    try:
        parse_networks(settings.get("HCC_WEBHOOK_ALLOWED_NETWORKS") or "")
    except SettingsError as e:
        return [str(e)]
    return []


# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052 and RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# The deprecated IPv4-compatible form ::a.b.c.d (::/96, without ::, ::1).
_V4_COMPATIBLE = ipaddress.ip_network("::/96")


class OutboundRefused(Exception):
    """Raised instead of making a call to a user-supplied URL that may not be called."""

    #: True when the URL itself is at fault and no later attempt can succeed; False when the answer of
    #: DNS decided, which may change.
    permanent = True


class BadURL(OutboundRefused):
    """Raised when the URL is malformed, has a scheme other than http(s), userinfo, no host, or is not https
    where https is required."""


class InternalAddress(OutboundRefused):
    """Raised when the URL's host is, or resolves to, an address inside a private or special network."""

    def __init__(self, message: str, address: IPAddress, *, literal: bool):
        super().__init__(message)
        self.address = address
        self.permanent = literal


class UnresolvableHost(OutboundRefused):
    """Raised when the URL's host name has no address (DNS failure): nothing can be checked or called."""

    permanent = False


@dataclass(frozen=True)
class Policy:
    """What outbound URLs may reach: public addresses, plus `allowed_networks`; https only if required."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    require_https: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(allowed_networks=parse_networks(settings.get("HCC_WEBHOOK_ALLOWED_NETWORKS") or ""),
                   require_https=settings.production)


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts and the addresses its host had when checked (all of them allowed)."""

    url: str
    scheme: str
    host: str  # as in the URL (IDNA-encoded, lower case, IPv6 without brackets)
    port: int
    addresses: tuple[IPAddress, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_networks(raw: str) -> tuple[IPNetwork, ...]:
    """`HCC_WEBHOOK_ALLOWED_NETWORKS` as networks; a malformed entry names the setting."""
    out = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError as e:
            raise SettingsError(f"HCC_WEBHOOK_ALLOWED_NETWORKS: {part!r} is not a network (CIDR)") from e
    return tuple(out)


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to (mapped, 6to4, Teredo, NAT64, IPv4-compatible)."""
    if ip.version != 6:
        return []
    found = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    if any(ip in net for net in _NAT64) or (ip in _V4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _is_internal(ip: IPAddress) -> bool:
    # `is_global` is False for loopback, private, link-local, shared (100.64/10), reserved, unspecified,
    # documentation and benchmarking ranges; multicast is "global" to it, so it is named on its own.
    return (not ip.is_global or ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
            or ip.is_reserved or ip.is_unspecified or (ip.version == 6 and ip.is_site_local))


def refusal(ip: IPAddress, policy: Policy) -> str | None:
    """Why `ip` may not be called (None when it may): it, or an IPv4 address inside it, is internal."""
    forms = [ip, *_embedded_ipv4(ip)]
    # An allow-listed network admits the address itself or the IPv4 address it maps to.
    if any(form in net for form in forms for net in policy.allowed_networks if form.version == net.version):
        return None
    if any(_is_internal(form) for form in forms):
        shown = f"{ip} ({forms[1]})" if len(forms) > 1 else str(ip)
        return f"address {shown} is internal"
    return None


def _split(url: str, policy: Policy) -> tuple[str, str, int]:
    try:
        parts = parse_url(url)
    except LocationParseError as e:
        raise BadURL(f"not a URL: {e}") from e
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise BadURL("the URL must start with https:// (or http://)")
    if policy.require_https and scheme != "https":
        raise BadURL("the URL must be https in production")
    if parts.auth is not None or "@" in (parts.netloc or ""):
        raise BadURL("the URL may not carry a user name or password")
    host = (parts.host or "").strip("[]").rstrip(".").lower()
    if not host:
        raise BadURL("the URL has no host")
    if "%" in host:
        raise BadURL("the URL's host may not carry an IPv6 zone")
    return scheme, host, parts.port or (443 if scheme == "https" else 80)


# The spellings of an IPv4 address that inet_aton (and so getaddrinfo) accepts: 2130706433, 0x7f.1,
# 017700000001, 127.1, 0. They are literals as much as 127.0.0.1 is.
_INET_ATON = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _INET_ATON.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address `host` has now (names and the odd spellings inet_aton accepts, such as 0x7f.1)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UnresolvableHost(f"cannot resolve {host}") from e
    out: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    if not out:
        raise UnresolvableHost(f"cannot resolve {host}")
    return tuple(out)


def check_url(url: str, policy: Policy) -> Target:
    """Check a user-supplied URL now: form, then every address its host resolves to. Raises OutboundRefused."""
    scheme, host, port = _split(url, policy)
    literal = _literal(host)
    addresses = (literal,) if literal is not None else resolve(host, port)
    for ip in addresses:
        why = refusal(ip, policy)
        if why:
            raise InternalAddress(why, ip, literal=literal is not None)
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=addresses)


class _PinnedAdapter(HTTPAdapter):
    """Connects to one checked address whatever the URL's host resolves to by then; TLS still sends and
    verifies the URL's host name (SNI and certificate), from the `server_hostname` pool setting."""

    def __init__(self, target: Target, address: IPAddress):
        self._target, self._address = target, address
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        address = f"[{self._address}]" if self._address.version == 6 else str(self._address)
        host_params = {**host_params, "host": address}
        if host_params.get("scheme") == "https":
            pool_kwargs = {**pool_kwargs, "server_hostname": self._target.host}
        return host_params, pool_kwargs


def post(url: str, *, policy: Policy, data: bytes, headers: dict[str, str], timeout: float,
         verify: bool | str = True) -> requests.Response:
    """POST to a user-supplied URL: checked again now, connected to a checked address, no redirects.

    Raises OutboundRefused (no connection made) or requests.RequestException.
    """
    target = check_url(url, policy)
    last: requests.RequestException | None = None
    # A name with several addresses: try them in order, as a browser would, but only ever checked ones.
    for address in target.addresses:
        with requests.Session() as http:
            http.trust_env = False  # an environment proxy would resolve the name itself, unchecked
            adapter = _PinnedAdapter(target, address)
            http.mount("http://", adapter)
            http.mount("https://", adapter)
            try:
                return http.post(url, data=data, headers={**headers, "Host": target.host_header}, timeout=timeout,
                                 allow_redirects=False, verify=verify, proxies={})
            except (requests.ConnectionError, requests.ConnectTimeout) as e:
                if isinstance(e, requests.exceptions.SSLError):
                    raise
                last = e
    assert last is not None
    raise last
