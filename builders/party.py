"""What one party of a task is made of, worked out once and read by every kind module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from builders.models import AppImage, ContainerPort, DeployTemplate
from builders.validation import CheckedAppImage


@dataclass(frozen=True)
class PodFacts:
    index: int
    name: str
    identity: str
    ports: Mapping[str, int]  # port name -> number, in template order
    services: Mapping[str, str]  # port name -> Service name, for Cluster and Domain ports
    config_map: str | None  # None when the AppImage has no config templates


@dataclass(frozen=True)
class PartyFacts:
    index: int  # position in spec.parties
    domain_id: str
    role: str
    local: bool
    app_image: AppImage
    checked: CheckedAppImage
    template_index: int
    template: DeployTemplate  # the selected deploy template with the party template merged in
    min_reserved_pods: int
    ports: tuple[ContainerPort, ...]  # every container's ports, in template order
    served_ports: tuple[ContainerPort, ...]  # those that get a Service: Cluster or Domain scope
    pods: tuple[PodFacts, ...]
    access_domains: Mapping[str, tuple[str, ...]]  # port name -> domains allowed in

    @property
    def field(self) -> str:
        return f"spec.parties[{self.index}]"

    @property
    def replicas(self) -> int:
        return len(self.pods)

    @property
    def image(self) -> str:
        image = self.app_image.spec.image
        return f"{image.name}:{image.tag}"
