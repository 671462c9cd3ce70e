"""Client keys of the gateway, compared in constant time (where they come from, and what each
may reach: :mod:`.clients`).

``RESOLVER_GATEWAY_KEYS`` holds keys separated by commas; ``RESOLVER_GATEWAY_KEYS_FILE`` names a
file with one key per line (``#`` starts a comment), or clients in YAML. Vendor keys are another
matter: they come from the provider's ``api_key_env``, and a client's ``Authorization`` never
goes upstream.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Sequence

from ..errors import ResolverError

KEYS_ENV = "RESOLVER_GATEWAY_KEYS"
KEYS_FILE_ENV = "RESOLVER_GATEWAY_KEYS_FILE"


class GatewaySetupError(ResolverError):
    """The gateway cannot start as configured (the CLI exits 2 with this message)."""


def offered_key(authorization: str | None, *, basic: bool = False) -> bytes:
    """The key an ``Authorization`` header offers (Bearer; with ``basic``, also the password
    of HTTP Basic), or b"" for none."""
    scheme, _, given = (authorization or "").partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return given.strip().encode()
    if basic and scheme == "basic":
        return _basic_password(given.strip())
    return b""


def _basic_password(credentials: str) -> bytes:
    """The password of HTTP Basic credentials (any user name), or b"" when they are malformed."""
    try:
        decoded = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):
        return b""
    _user, colon, password = decoded.partition(b":")
    return password if colon else b""


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the gateway reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, keys: Sequence[bytes], *, insecure_no_auth: bool) -> None:
    """Refuse to expose a gateway without client keys beyond loopback."""
    if keys or insecure_no_auth or is_loopback(host):
        return
    raise GatewaySetupError(
        f"refusing to serve on {host} without client keys: anyone who can reach it could spend "
        f"your vendor keys. Set {KEYS_ENV} (or {KEYS_FILE_ENV}), bind 127.0.0.1, or pass "
        "--insecure-no-auth if something in front of the gateway checks clients"
    )
