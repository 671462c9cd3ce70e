"""``python -m resolver``: the same program as the ``fallback-resolver`` console script."""

from .cli import main

raise SystemExit(main())
