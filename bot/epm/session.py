"""The ``requests.Session`` of every EPM call: no environment, the settings' proxy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from bot.proxy import Proxies

if TYPE_CHECKING:
    from requests.sessions import _Settings


class ProxiedSession(requests.Session):
    """A session that reads nothing from the environment and sends each request through
    the proxy :class:`~bot.proxy.Proxies` names for its URL (none for a NO_PROXY host)."""

    def __init__(self, proxies: Proxies | None = None) -> None:
        super().__init__()
        # The settings decide the proxy; a .netrc or REQUESTS_CA_BUNDLE must not sneak in.
        self.trust_env = False
        self.route = proxies if proxies is not None else Proxies()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        """requests' per-request settings, the proxy chosen for ``url``."""
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        proxy = self.route.for_url(str(url))
        merged["proxies"] = {urlsplit(str(url)).scheme: proxy} if proxy else {}
        return merged
