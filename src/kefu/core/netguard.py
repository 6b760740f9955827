"""Outbound requests to addresses an admin typed: only to the public internet.

A webhook endpoint or a channel's outbound URL is typed by an admin and then called by
kefu's worker from inside the company network. Pointed at 169.254.169.254 (a cloud's
metadata service), 127.0.0.1 or a 10.x host, it would turn kefu into a proxy into that
network (SSRF). So such URLs are refused twice:

* when saved (``check_public_url``): an address literal, or a name that resolves, to a
  non-public address is a 400 naming the field;
* when called (``pin``): the name is resolved again, every address must be public, and
  the request goes to the address that was checked (the ``Host`` header and TLS name
  stay the URL's), so a DNS answer that changes between check and connect cannot
  slip through.

Networks an admin trusts (an integration inside the company) are listed in
``KEFU_ALLOWED_PRIVATE_NETWORKS`` (CIDRs, comma-separated).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from .errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(InvalidInput):
    """The URL leads to an address kefu may not call."""


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(
        ipaddress.ip_network(net.strip(), strict=False)
        for net in getattr(settings, "KEFU_ALLOWED_PRIVATE_NETWORKS", ())
        if net.strip()
    )


def is_allowed(address: IPAddress) -> bool:
    """Public unicast, or inside a network the admin allowed."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if any(address in net for net in allowed_networks()):
        return True
    return address.is_global and not address.is_multicast


def _refuse(field_name: str, host: str, address: IPAddress | None = None) -> BlockedDestination:
    where = f"{host}（{address}）" if address is not None and str(address) != host else host
    return BlockedDestination(
        f"不允许访问内网或保留地址：{where}",
        fields={field_name: "须为公网地址；内网请由管理员在 KEFU_ALLOWED_PRIVATE_NETWORKS 中放行"},
    )


def _parts(url: str, field_name: str) -> tuple[Any, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("地址必须是 http(s) 网址", fields={field_name: "应以 http:// 或 https:// 开头"})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidInput("地址的端口无效", fields={field_name: "端口应为 1–65535"}) from exc
    return parts, parts.hostname, port


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (``socket.gaierror`` when it does not)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))


def check_public_url(url: str, *, field_name: str = "url") -> str:
    """``url`` if it leads to public addresses only (save time); ``BlockedDestination`` if not.

    A name that does not resolve now is accepted: it is resolved and checked again on
    every call.
    """
    _, host, port = _parts(url, field_name)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return url
    for address in addresses:
        if not is_allowed(address):
            raise _refuse(field_name, host, address)
    return url


@dataclass(frozen=True)
class Pinned:
    """Where to send a request: the checked address, with the URL's name kept."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def pin(url: str, *, field_name: str = "url") -> Pinned:
    """Resolve ``url``'s host now and aim the request at an address that passed the check.

    Raises ``BlockedDestination`` for a non-public address and ``InvalidInput`` when the
    name does not resolve.
    """
    parts, host, port = _parts(url, field_name)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"无法解析域名：{host}", fields={field_name: "域名无法解析"}) from exc
    for address in addresses:
        if not is_allowed(address):
            raise _refuse(field_name, host, address)
    if _literal(host) is not None:
        return Pinned(url)
    address = addresses[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Pinned(urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, extensions)
