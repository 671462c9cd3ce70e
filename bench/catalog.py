"""Generated catalogs for the scale benchmarks: N models written as a Hydra config tree.

The tree has the shipped layout (a primary config, one file per vendor, a fallbacks file, the
shipped policy and env overlays), so that loading it exercises the same composition as the
shipped catalog, only bigger. Every model has up to two forward backups (a DAG, so that
validation finds no cycle) and every fifth is a reasoning model, so chains, downgrades and cost
checks all have work to do.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

SHIPPED = Path(__file__).resolve().parent.parent / "conf"
VENDORS = 10


def model_id(i: int) -> str:
    return f"model-{i:05d}"


def catalog_data(n: int) -> dict[str, Any]:
    """The catalog as plain data: ``{vendor file: {...}}`` and the fallbacks mapping."""
    vendors: dict[str, Any] = {}
    for v in range(VENDORS):
        vendors[f"vendor{v}"] = {
            "base_url": f"https://api.vendor{v}.example/v1",
            "api_key_env": f"VENDOR{v}_API_KEY",
            "timeout_s": 60,
            "models": {},
        }
    for i in range(n):
        vendor = vendors[f"vendor{i % VENDORS}"]
        vendor["models"][model_id(i)] = {
            "model": f"org/model-{i}",
            "display_name": f"Model {i}",
            "tier": "premium" if i % 3 == 0 else "budget",
            "reasoning": i % 5 == 0,
            "pricing": {"prompt": 1.0 + (i % 7) * 0.25, "completion": 2.0 + (i % 11) * 0.5},
            "enabled": i % 13 != 0,
        }
    fallbacks = {
        model_id(i): [model_id(j) for j in (i + 1, i + 2) if j < n] for i in range(0, n, 2)
    }
    return {"vendors": vendors, "fallbacks": fallbacks}


def write_tree(n: int, root: Path) -> Path:
    """Write an ``n``-model config tree under ``root`` and return it (for ``config_path``)."""
    data = catalog_data(n)
    (root / "providers").mkdir(parents=True, exist_ok=True)
    (root / "fallbacks").mkdir(exist_ok=True)
    for name, vendor in data["vendors"].items():
        _dump({name: vendor}, root / "providers" / f"{name}.yaml")
    _dump(data["fallbacks"], root / "fallbacks" / "generated.yaml")
    shutil.copytree(SHIPPED / "policy", root / "policy", dirs_exist_ok=True)
    # Only prod: the other shipped overlays patch the shipped vendors, which this tree lacks.
    (root / "env").mkdir(exist_ok=True)
    shutil.copy(SHIPPED / "env" / "prod.yaml", root / "env" / "prod.yaml")
    primary = {
        "defaults": [
            {"providers": list(data["vendors"])},
            {"fallbacks": "generated"},
            {"policy": "default"},
            "_self_",
            {"env": "prod"},
        ],
        "models": {},
        "edge_policy": {},
    }
    _dump(primary, root / "config.yaml")
    return root


def all_yaml(root: Path) -> list[Path]:
    return sorted(root.rglob("*.yaml"))


def _dump(data: Any, path: Path) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
