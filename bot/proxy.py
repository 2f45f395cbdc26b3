"""Outbound proxies (SPEC §16): ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY``.

The settings read the variables once (lower-case forms too, which win as with curl and
requests). :class:`Proxies` says which proxy a URL goes through: ``https://`` (and
``wss://``) URLs use the HTTPS proxy, ``http://`` (and ``ws://``) ones the HTTP proxy,
and a host listed in ``NO_PROXY`` none. ``NO_PROXY`` is a comma-separated list of host
names (a name also covers its subdomains; a leading dot is allowed), IP addresses or
CIDR ranges, each optionally with ``:port``; ``*`` turns proxying off.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from bot.settings import Settings


@dataclass(frozen=True)
class Proxies:
    """The proxies of outbound calls; a proxy URL may carry ``user:password@``."""

    https: str | None = None
    http: str | None = None
    no_proxy: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Proxies:
        """The proxies the settings name."""
        https, http = settings.https_proxy, settings.http_proxy
        return cls(
            https=https.get_secret_value() if https else None,
            http=http.get_secret_value() if http else None,
            no_proxy=settings.no_proxy or "",
        )

    def for_url(self, url: str) -> str | None:
        """The proxy that ``url`` goes through; None: it connects directly."""
        parts = urlsplit(url)
        proxy = self.https if parts.scheme in ("https", "wss") else self.http
        if proxy is None or self.bypasses(url):
            return None
        return proxy

    def bypasses(self, url: str) -> bool:
        """Whether ``NO_PROXY`` lists the host of ``url``."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        return any(_matches(entry, host, port) for entry in _entries(self.no_proxy))

    def describe(self) -> str:
        """The proxies for people, passwords masked: ``https://proxy:3128 (NO_PROXY: …)``."""
        shown = []
        if self.https:
            shown.append(mask(self.https))
        if self.http and self.http != self.https:
            shown.append(f"{mask(self.http)} for http://")
        if not shown:
            return "none"
        bypass = ",".join(_entries(self.no_proxy))
        return ", ".join(shown) + (f" (NO_PROXY: {bypass})" if bypass else "")


def mask(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``***@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def _entries(no_proxy: str) -> list[str]:
    return [e.strip().lower() for e in no_proxy.split(",") if e.strip()]


def _matches(entry: str, host: str, port: int) -> bool:
    if entry == "*":
        return True
    name, entry_port = entry, None
    if entry.startswith("[") and "]" in entry:  # [::1]:8080
        name, _, rest = entry[1:].partition("]")
        entry_port = rest[1:] or None
    elif entry.count(":") == 1:
        name, entry_port = entry.split(":")
    if entry_port is not None and entry_port != str(port):
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")) in ipaddress.ip_network(name, strict=False)
    except ValueError:
        pass  # a host name, or a name entry: compared as names
    name = name.lstrip(".")
    return host == name or host.endswith("." + name)
