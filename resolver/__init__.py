"""Declarative, Hydra-configured LLM fallbacks: compose, validate, resolve.

``import resolver`` is cheap: Hydra is imported, and the default configuration composed, only
when something first needs it.
"""

from typing import Any

from .catalog import ERROR_CLASSES, CostPolicy, EdgePolicy, ErrorClass, Policy, Pricing, Provider
from .default import default_resolver, explain, get_fallback_chain, get_fallback_provider
from .errors import ConfigError, Problem, ResolverError
from .load import load
from .resolve import Explanation, Resolver, Step

__version__ = "0.1.0"

__all__ = [
    "ALL_PROVIDERS",
    "ERROR_CLASSES",
    "MODEL_FALLBACKS",
    "ConfigError",
    "CostPolicy",
    "EdgePolicy",
    "ErrorClass",
    "Explanation",
    "Policy",
    "Pricing",
    "Problem",
    "Provider",
    "Resolver",
    "ResolverError",
    "Step",
    "default_resolver",
    "explain",
    "get_fallback_chain",
    "get_fallback_provider",
    "load",
]


def __getattr__(name: str) -> Any:
    # PEP 562: the seed's module constants, computed from the default resolver on first use.
    from . import default

    if name == "MODEL_FALLBACKS":
        return default.model_fallbacks()
    if name == "ALL_PROVIDERS":
        return default.all_providers()
    raise AttributeError(f"module 'resolver' has no attribute {name!r}")
