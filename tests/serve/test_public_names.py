"""The gateway's public surface: its names import from resolver.serve, and `import resolver`
does not bring the web server in."""

from __future__ import annotations

import subprocess
import sys

import resolver.serve


def test_serve_exports_its_public_names():
    """resolver.serve.__all__ lists Gateway, Limits and GatewaySetupError, each importable."""
    assert set(resolver.serve.__all__) == {"Gateway", "GatewaySetupError", "Limits"}
    for name in resolver.serve.__all__:
        assert getattr(resolver.serve, name) is not None


def test_import_resolver_does_not_import_the_gateway():
    """`import resolver` (and a lookup) imports neither Starlette, uvicorn nor the gateway."""
    code = (
        "import sys, resolver; resolver.load(); "
        "print([m for m in ('starlette', 'uvicorn', 'resolver.serve') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "[]"
