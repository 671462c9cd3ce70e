"""The gateway (``fallback-resolver serve``): an OpenAI-compatible HTTP server over the resolver.

Needs the ``gateway`` extra (Starlette, uvicorn, prometheus_client): ``pip install '.[gateway]'``
from a checkout, or ``pip install 'fallback-resolver[gateway]'``. :class:`Gateway` holds what is
served and :meth:`Gateway.app` is the ASGI app; :func:`run` serves it with uvicorn, as the
command does.
"""

from .app import Gateway, Limits
from .auth import GatewaySetupError

__all__ = ["Gateway", "GatewaySetupError", "Limits"]
