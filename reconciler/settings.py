"""The controller's settings, grouped, each default stated once; the CLI fills
them from flags users already know from Kubebuilder controllers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FIELD_MANAGER = "kuscia-reconciler"


@dataclass(frozen=True)
class LeaderSettings:
    enabled: bool = False
    namespace: str = "default"
    lease_name: str = "kuscia-reconciler"
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class ServerSettings:
    metrics_address: str = ":8080"  # "0" turns the server off
    health_address: str = ":8081"


@dataclass(frozen=True)
class Settings:
    namespace: str | None = None  # watch KusciaTasks in one namespace; None: all
    # The namespace the controller runs in: never a Kuscia domain, whatever its labels.
    controller_namespace: str | None = None
    workers: int = 4
    keep_finished: bool = False  # keep Pods and ConfigMaps of finished tasks
    apply_concurrency: int = 16  # objects of one task applied at once
    field_manager: str = FIELD_MANAGER
    # --image-verify-key: AppImages must carry a spec.image.sign that one of these
    # verifies; empty: signatures are not checked.
    image_verify_keys: tuple[Ed25519PublicKey, ...] = ()
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
