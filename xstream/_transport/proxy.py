"""Which HTTP proxy a request goes through: ``proxy=``, or the environment.

xstream reads ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY`` (either case) itself,
once, when the client is built, and hands aiohttp an explicit proxy per request.
It does not use aiohttp's ``trust_env=True``: that also reads ``~/.netrc`` on
every request, and a netrc entry for the API's host then overwrites the
``Authorization`` header (aiohttp 3.10) or fails the request with a
``ValueError`` (3.11 and later).

Loopback is not special: ``127.0.0.1`` goes through the proxy unless ``NO_PROXY``
names it, as with curl and aiohttp. The proxy's password (given in its URL) is
sent as ``Proxy-Authorization`` and is one of the request's secrets: no message
shows it.
"""

from __future__ import annotations

import base64
import contextlib
import urllib.parse
import urllib.request
from typing import NamedTuple

from yarl import URL

from .._exceptions import ConfigurationError

__all__ = ["Proxies", "ProxyRoute", "bypassed"]

_SCHEMES = ("http", "https")  # what aiohttp can speak to a proxy


class ProxyRoute(NamedTuple):
    """A proxy to send through: ``url`` for messages (no login in it), ``target``
    for aiohttp (with the login, which aiohttp sends as ``Proxy-Authorization``:
    its ``proxy_auth`` argument is deprecated from aiohttp 3.14)."""

    url: URL
    target: URL
    login: tuple[str, str] | None


def _route(value: str, origin: str) -> ProxyRoute:
    """A proxy URL (``http://user:password@host:port``) split into URL and login."""
    if "://" not in value:
        value = f"http://{value}"  # HTTPS_PROXY=proxy:3128, as curl reads it
    url = URL(value)
    if url.scheme not in _SCHEMES or not url.host:
        shown = url.with_password(None) if url.password else url
        raise ConfigurationError(
            f"{origin} must be an http:// (or https://) proxy URL with a host, got {str(shown)!r}"
        )
    login = None if url.user is None else (url.user, url.password or "")
    return ProxyRoute(url.with_user(None), url, login)


class Proxies:
    """The proxy of each request's URL.

    ``proxy`` (a URL) is used for every request. Without it, and with
    ``trust_env``, ``HTTP_PROXY`` serves ``http://`` URLs and ``HTTPS_PROXY``
    ``https://`` ones (tunnelled with ``CONNECT``), except for the hosts
    ``NO_PROXY`` lists (``*``, ``host``, ``.domain``, ``host:port``).
    """

    __slots__ = ("_env", "_fixed", "_no_proxy", "secrets")

    def __init__(self, proxy: str | None = None, *, trust_env: bool = False) -> None:
        self._fixed = _route(proxy, "proxy") if proxy else None
        self._env: dict[str, ProxyRoute] = {}
        self._no_proxy = ""
        if self._fixed is None and trust_env:
            found = urllib.request.getproxies_environment()
            for scheme in _SCHEMES:
                if found.get(scheme):
                    self._env[scheme] = _route(found[scheme], f"{scheme.upper()}_PROXY")
            self._no_proxy = found.get("no", "")
        self.secrets = _secrets([self._fixed, *self._env.values()])

    def route(self, url: str) -> ProxyRoute | None:
        """The proxy for ``url``, or ``None`` to connect directly."""
        if self._fixed is not None or not self._env:
            return self._fixed
        parts = urllib.parse.urlsplit(url)
        chosen = self._env.get(parts.scheme)
        if chosen is None or not parts.hostname:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self._no_proxy and bypassed(parts.hostname, port, self._no_proxy):
            return None
        return chosen

    def __repr__(self) -> str:  # never a password: the routes hold none
        routes = {"proxy": self._fixed} if self._fixed else self._env
        return f"<Proxies {', '.join(f'{k}={v.url}' for k, v in routes.items()) or 'none'}>"


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (comma-separated) exempts ``host``: ``*`` exempts every
    host; ``example.com`` and ``.example.com`` exempt it and its subdomains;
    ``host:port`` only that port. Case does not matter; IP addresses match exactly."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.lower().split(","):
        entry = entry.strip()
        if entry == "*":
            return True
        name, _, wanted = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        name = name.strip("[]").lstrip(".").rstrip(".")
        if not name or (wanted and str(port) != wanted):
            continue
        if host == name or host.endswith(f".{name}"):
            return True
    return False


def _has_port(entry: str) -> bool:
    """``host:port`` or ``[v6]:port`` (a bare IPv6 address has colons but no port)."""
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (head.endswith("]") or ":" not in head)


def _secrets(routes: list[ProxyRoute | None]) -> list[str]:
    """What a proxy login looks like in text: the password decoded and as the URL
    gave it, and the ``Proxy-Authorization`` token built from it."""
    found: list[str] = []
    for route in routes:
        if route is None or route.login is None or not route.login[1]:
            continue
        user, password = route.login
        found += [password, route.target.raw_password or password]
        for encoding in ("utf-8", "latin-1"):
            with contextlib.suppress(UnicodeEncodeError):
                found.append(base64.b64encode(f"{user}:{password}".encode(encoding)).decode())
    return found
