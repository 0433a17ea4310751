"""Every way a task or AppImage can be wrong, as one typed error and one list of reasons.

A reason is machine-readable (CamelCase, written to status conditions and Events);
the message is for people and always names the object, the party and the field path.
Only the two "not there yet" reasons make a task wait instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    # The task waits (stays Pending) and is reconciled again when the object appears.
    APP_IMAGE_NOT_FOUND = "AppImageNotFound"
    NAMESPACE_NOT_FOUND = "NamespaceNotFound"
    # A namespace an administrator has not designated a Kuscia domain (or a reserved one):
    # nothing is made there, and the task fails. Designating it later must not run a
    # task whose author the admission policy never checked for it.
    DOMAIN_NOT_DESIGNATED = "DomainNotDesignated"
    # The AppImage itself is wrong (also reported on the AppImage's Valid condition).
    DEPLOY_TEMPLATE_NOT_FOUND = "DeployTemplateNotFound"
    DUPLICATE_PORT_NAME = "DuplicatePortName"
    DUPLICATE_PORT_NUMBER = "DuplicatePortNumber"
    CONFIG_TEMPLATE_NOT_FOUND = "ConfigTemplateNotFound"
    INVALID_NETWORK_POLICY = "InvalidNetworkPolicy"
    CONFIG_RENDER_FAILED = "ConfigRenderFailed"
    INVALID_APP_IMAGE = "InvalidAppImage"
    # The task (or the task combined with its AppImages) is wrong.
    DUPLICATE_PARTY = "DuplicateParty"
    INVALID_TASK = "InvalidTask"
    INVALID_NAME = "InvalidName"
    NAME_TOO_LONG = "NameTooLong"
    NAME_CONFLICT = "NameConflict"
    CONFIG_MAP_TOO_LARGE = "ConfigMapTooLarge"
    PORTS_EXHAUSTED = "PortsExhausted"
    TOO_MANY_PARTIES = "TooManyParties"
    TOO_MANY_PODS = "TooManyPods"
    # The AppImage's spec.image.sign does not verify with any trusted key (--image-verify-key).
    IMAGE_SIGNATURE_INVALID = "ImageSignatureInvalid"


WAITING_REASONS = frozenset({Reason.APP_IMAGE_NOT_FOUND, Reason.NAMESPACE_NOT_FOUND})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an AppImage: what (reason), where (field) and a sentence for people."""

    reason: Reason
    message: str
    field: str


class BuildError(Exception):
    """Why a task cannot be built; `waiting` means "not yet", everything else means "never"."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        waiting: bool | None = None,
        app_image: str | None = None,
        field: str = "",
    ) -> None:
        super().__init__(message)
        self.reason: str = reason
        self.message: str = message
        self.waiting: bool = reason in WAITING_REASONS if waiting is None else waiting
        self.app_image: str | None = app_image  # the AppImage at fault, when it is its own problem
        self.field: str = field

    def __repr__(self) -> str:
        return f"BuildError({self.reason}: {self.message})"
