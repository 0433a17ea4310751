"""Kuscia knowledge without I/O: typed models in, desired Kubernetes objects out."""

from builders.errors import BuildError, Problem, Reason
from builders.plan import (
    RESERVED_NAMESPACES,
    Cluster,
    PartyPlan,
    Plan,
    RenderWarning,
    ServicePlan,
    plan,
)
from builders.revision_cache import DEFAULT_CACHE, RevisionCache
from builders.validation import validate_app_image

__all__ = [
    "DEFAULT_CACHE",
    "RESERVED_NAMESPACES",
    "BuildError",
    "Cluster",
    "PartyPlan",
    "Plan",
    "Problem",
    "Reason",
    "RenderWarning",
    "RevisionCache",
    "ServicePlan",
    "plan",
    "validate_app_image",
]
