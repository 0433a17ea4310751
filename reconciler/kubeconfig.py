"""kubernetes_asyncio's kubeconfig and in-cluster loaders, and its Configuration, imported
without the rest of it: its package imports every API class and all 859 generated
models (about 36 MiB) on the way to any of its modules, and the controller uses none.

Where kubernetes_asyncio is already imported in full (tests, tools) that copy is used.
Otherwise its packages are stood in for, for the length of the import, by empty
packages on the same paths, so only the modules named here (and what they import)
are loaded; the stand-ins are then removed, so a later `import kubernetes_asyncio`
imports the real package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "kubernetes_asyncio"


@dataclass(frozen=True)
class Loaders:
    Configuration: Any
    ConfigException: type[Exception]
    load_kube_config: Any
    load_incluster_config: Any


@cache
def loaders() -> Loaders:
    if f"{PACKAGE}.client" in sys.modules:
        from kubernetes_asyncio import client, config

        return Loaders(
            client.Configuration,
            config.ConfigException,
            config.load_kube_config,
            config.load_incluster_config,
        )
    return _import_alone()


class _NotLoaded:
    """Stands for the ApiClient, which the kubeconfig module names (for a function the
    controller does not call) but need not import."""


def _import_alone() -> Loaders:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    before = set(sys.modules)

    def stand_in(name: str, path: Path) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module
        return module

    stand_in(PACKAGE, root)
    client = stand_in(f"{PACKAGE}.client", root / "client")
    stand_in(f"{PACKAGE}.config", root / "config")
    try:
        configuration = importlib.import_module(f"{PACKAGE}.client.configuration")
        client.Configuration = configuration.Configuration  # type: ignore[attr-defined]
        client.ApiClient = _NotLoaded  # type: ignore[attr-defined]
        exception = importlib.import_module(f"{PACKAGE}.config.config_exception")
        kube_config = importlib.import_module(f"{PACKAGE}.config.kube_config")
        incluster = importlib.import_module(f"{PACKAGE}.config.incluster_config")
    finally:
        for name in set(sys.modules) - before:
            if name == PACKAGE or name.startswith(f"{PACKAGE}."):
                del sys.modules[name]
    return Loaders(
        configuration.Configuration,
        exception.ConfigException,
        kube_config.load_kube_config,
        incluster.load_incluster_config,
    )
