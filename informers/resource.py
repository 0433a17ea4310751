"""Which API collection an informer lists and watches, and the URL paths for it.

Paths are built by hand rather than through generated API classes, because the
informer reads raw responses and must work the same for core and custom resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool

    def __post_init__(self) -> None:
        for field_name in ("version", "plural"):
            if not getattr(self, field_name):
                raise ValueError(f"Resource.{field_name} must not be empty: {self!r}")
        if "/" in self.plural or "/" in self.group:
            raise ValueError(f"Resource.plural and .group must not contain '/': {self!r}")

    @property
    def api_version(self) -> str:
        """The `apiVersion` written in objects of this resource: "v1" or "group/version"."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection_path(self, namespace: str | None = None) -> str:
        """The list/watch path over all namespaces (namespace None) or one namespace."""
        if namespace is None:
            return f"{self.api_prefix}/{self.plural}"
        if not self.namespaced:
            raise ValueError(
                f"{self.plural}.{self.group or 'core'} is cluster-scoped; "
                f"it cannot be listed in namespace {namespace!r}"
            )
        if not namespace:
            raise ValueError(f"namespace for {self.plural} must not be empty (use None for all)")
        return f"{self.api_prefix}/namespaces/{quote(namespace, safe='')}/{self.plural}"

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural
