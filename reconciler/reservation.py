"""The resource reservation rules (SPEC §6; Kuscia's TaskResourceGroup): a task's
Pods are made behind a scheduling gate, released together once every local
party's objects exist, and held once enough parties have enough Pods bound to
nodes; a reservation not complete in time removes the Pods and is tried again.

Pure: the time is an argument. The state lives in `status.reservation` (camelCase
JSON, as stored), so a restarted controller resumes where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from builders import Plan
from builders.models import KusciaTask

CREATING, RESERVING, RESERVED, RESERVE_FAILED, FAILED = (
    "Creating",
    "Reserving",
    "Reserved",
    "ReserveFailed",
    "Failed",
)
DEFAULT_LIFECYCLE_SECONDS = 300
DEFAULT_RESOURCE_RESERVED_SECONDS = 30
DEFAULT_RETRY_INTERVAL_SECONDS = 30

CONDITION = "ResourceReserved"
# The condition's reasons (status False unless Reserved).
REASON_CREATING = "Creating"  # pods being made behind the gate
REASON_RESERVING = "Reserving"  # released, waiting for the scheduler to bind them
REASON_RESERVED = "Reserved"
REASON_RESERVE_FAILED = "ReserveFailed"  # not placed in resourceReservedSeconds; will retry
REASON_EXPIRED = "LifecycleExpired"  # lifecycleSeconds ran out before a reservation held


def resource_reserved_seconds(task: KusciaTask) -> int:
    """0 (or nothing) means the default, as Kuscia reads it."""
    return task.spec.schedule_config.resource_reserved_seconds or DEFAULT_RESOURCE_RESERVED_SECONDS


def retry_interval_seconds(task: KusciaTask) -> int:
    return task.spec.schedule_config.retry_interval_seconds or DEFAULT_RETRY_INTERVAL_SECONDS


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: Any) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


# --- placement ------------------------------------------------------------------


def pod_placed(pod: Mapping[str, Any]) -> bool:
    """Bound to a node by the scheduler (or already past Pending, so placed somewhere)."""
    if (pod.get("spec") or {}).get("nodeName"):
        return True
    return str((pod.get("status") or {}).get("phase") or "Pending") != "Pending"


def _not_scheduled(pod: Mapping[str, Any]) -> tuple[str, str]:
    """The scheduler's reason and message from the pod's PodScheduled=False condition."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("reason") == "SchedulingGated":
            continue  # the API server's note from while the gate was on, not the scheduler's
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("reason") or ""), str(condition.get("message") or "")
    return "", ""


@dataclass(frozen=True)
class PartyPlacement:
    domain_id: str
    role: str
    placed: int
    wanted: int  # minReservedPods
    reason: str = ""  # why a pod is not placed: the scheduler's words where it said any
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.placed >= self.wanted

    def describe(self) -> str:
        who = f"party {self.domain_id}" + (f" ({self.role})" if self.role else "")
        text = f"{who}: {self.placed} of {self.wanted} pod(s) placed"
        return text + (f": {self.message}" if self.message else "")

    def as_status(self) -> dict[str, Any]:
        entry = {
            "domainID": self.domain_id,
            "role": self.role,
            "placedPods": self.placed,
            "minReservedPods": self.wanted,
            "reason": self.reason,
            "message": self.message,
        }
        return {k: v for k, v in entry.items() if v not in ("", None)}


def placements(plan: Plan, pods: Mapping[str, Mapping[str, Any]]) -> list[PartyPlacement]:
    """One per local party, in task order (remote parties reserve in their own domain)."""
    result = []
    for party in plan.parties:
        if not party.local:
            continue
        keys = [f"{party.namespace}/{name}" for name in party.pods]
        live = [pods[k] for k in keys if k in pods]
        placed = sum(pod_placed(p) for p in live)
        reason, message = "", ""
        waiting = [p for p in live if not pod_placed(p)]
        for pod in waiting:
            reason, message = _not_scheduled(pod)
            if message:
                break
        if not message and len(live) < len(keys):
            reason, message = "PodMissing", "its pods do not all exist"
        elif not message and waiting:
            message = "not bound to a node yet"
        result.append(
            PartyPlacement(
                party.domain_id, party.role, placed, party.min_reserved_pods, reason, message
            )
        )
    return result


def wanted_members(task: KusciaTask, local_parties: int) -> int:
    """minReservedMembers (0 or nothing: every party), counted among the local parties."""
    wanted = task.spec.schedule_config.min_reserved_members or local_parties
    return min(wanted, local_parties)


def group_placed(task: KusciaTask, parties: Sequence[PartyPlacement]) -> bool:
    return sum(p.ok for p in parties) >= wanted_members(task, len(parties))


# --- the steps ----------------------------------------------------------------------


@dataclass(frozen=True)
class Before:
    """What one reconcile does with the pods, decided from the stored state."""

    state: dict[str, Any]  # status.reservation, possibly moved on to a new attempt
    make_pods: bool  # apply the pods this round
    held: bool  # they carry the scheduling gate

    @property
    def gangs(self) -> bool:
        """This attempt's pods are made as one PodGroup per party. Decided when the
        attempt starts, before its pods exist: a pod's group cannot change later."""
        return bool(self.state.get("gangScheduling"))


def _attempt(number: int, gangs: bool) -> dict[str, Any]:
    state: dict[str, Any] = {"phase": CREATING, "attempts": number}
    if gangs:
        state["gangScheduling"] = True
    return state


def before_apply(
    old: Mapping[str, Any],
    *,
    task_pods_exist: bool,
    already_created: bool,
    now: float,
    gangs: bool = False,
) -> Before:
    """`old` is status.reservation as stored ({} for a task that has none yet);
    `already_created`: the status says the task's objects were made; `gangs`: the
    cluster serves PodGroups, so a new attempt's parties are gangs."""
    phase = old.get("phase") or ""
    if not phase and already_created:
        # Made before reservations were recorded: its pods run ungated; take them as held.
        return Before({"phase": RESERVED, "attempts": 1}, make_pods=True, held=False)
    if not phase:
        return Before(_attempt(1, gangs), make_pods=True, held=True)
    if phase == CREATING:
        return Before(dict(old), make_pods=True, held=True)
    if phase in (RESERVING, RESERVED):
        return Before(dict(old), make_pods=True, held=False)
    if phase == RESERVE_FAILED:
        retry_at = _seconds(old.get("retryTime")) or 0.0
        # The last attempt's pods must be gone first: a pod of the same name still
        # terminating would be patched, not made again.
        if now >= retry_at and not task_pods_exist:
            attempts = int(old.get("attempts") or 1) + 1
            return Before(_attempt(attempts, gangs), make_pods=True, held=True)
        return Before(dict(old), make_pods=False, held=False)
    return Before(dict(old), make_pods=False, held=False)  # Failed


@dataclass(frozen=True)
class After:
    """The state after this reconcile, and what the reconciler must do about it."""

    state: dict[str, Any]
    remove_pods: bool = False
    event: tuple[str, str] | None = None  # (reason, message) of a transition worth an Event
    warning: bool = False
    wake_at: float | None = None  # when to look again (a deadline), seconds since the epoch
    parties: tuple[PartyPlacement, ...] = field(default=())

    @property
    def reserved(self) -> bool:
        return self.state.get("phase") == RESERVED


def after_apply(
    task: KusciaTask,
    before: Before,
    *,
    all_objects_exist: bool,
    parties: Sequence[PartyPlacement],
    now: float,
    expired: bool,
) -> After:
    """`all_objects_exist`: every object of the plan exists (applied this round or found
    unchanged); `expired`: lifecycleSeconds has run out."""
    state = dict(before.state)
    phase = state["phase"]
    attempt = int(state.get("attempts") or 1)
    if phase == RESERVED:
        return After(state, parties=tuple(parties))
    if phase == CREATING and all_objects_exist:
        phase = RESERVING
        state.update(
            phase=RESERVING,
            releaseTime=_stamp(now),
            reserveDeadline=_stamp(now + resource_reserved_seconds(task)),
        )
        state.pop("retryTime", None)
        state.pop("unplacedParties", None)
    if phase == RESERVING and group_placed(task, parties):
        kept = ("attempts", "releaseTime", "gangScheduling")
        reserved = {k: v for k, v in state.items() if k in kept}
        placed = sum(p.ok for p in parties)
        message = f"attempt {attempt}: {placed} of {len(parties)} local parties placed"
        return After(
            {**reserved, "phase": RESERVED},
            event=(REASON_RESERVED, message),
            parties=tuple(parties),
        )
    unplaced = [p.as_status() for p in parties if not p.ok]
    if expired:
        if phase == RESERVING and unplaced:
            state["unplacedParties"] = unplaced
        state["phase"] = FAILED
        for key in ("reserveDeadline", "retryTime"):
            state.pop(key, None)
        return After(state, remove_pods=True, parties=tuple(parties))
    if phase == RESERVING:
        deadline = _seconds(state.get("reserveDeadline")) or now
        if now < deadline:
            return After(state, wake_at=deadline, parties=tuple(parties))
        retry_at = now + retry_interval_seconds(task)
        failed = {
            "phase": RESERVE_FAILED,
            "attempts": attempt,
            "gangScheduling": state.get("gangScheduling"),
            "releaseTime": state.get("releaseTime"),
            "retryTime": _stamp(retry_at),
            "unplacedParties": unplaced,
        }
        message = failure_message(failed, retry_interval_seconds(task))
        return After(
            {k: v for k, v in failed.items() if v},
            remove_pods=True,
            event=(REASON_RESERVE_FAILED, message),
            warning=True,
            wake_at=retry_at,
            parties=tuple(parties),
        )
    if phase == RESERVE_FAILED:
        return After(
            state,
            remove_pods=True,
            wake_at=_seconds(state.get("retryTime")),
            parties=tuple(parties),
        )
    return After(state, parties=tuple(parties))  # Creating, objects not all made yet


def _unplaced_text(state: Mapping[str, Any]) -> str:
    parts = []
    for entry in state.get("unplacedParties") or []:
        who = f"party {entry.get('domainID')}" + (
            f" ({entry['role']})" if entry.get("role") else ""
        )
        text = (
            f"{who}: {entry.get('placedPods', 0)} of {entry.get('minReservedPods', 0)} "
            "pod(s) placed"
        )
        if entry.get("message"):
            text += f": {entry['message']}"
        parts.append(text)
    return "; ".join(parts)


def failure_message(state: Mapping[str, Any], retry_seconds: int | None = None) -> str:
    """Kuscia's words for a failed attempt, with the parties and the scheduler's message."""
    domains = ",".join(str(e.get("domainID")) for e in state.get("unplacedParties") or [])
    text = (
        f"attempt {state.get('attempts', 1)}: domain [{domains}] can not reserve resources "
        f"for pods: {_unplaced_text(state)}"
    )
    if retry_seconds is not None:
        text += f"; retrying in {retry_seconds}s"
    return text


def condition(task: KusciaTask, state: Mapping[str, Any]) -> tuple[bool, str, str]:
    """The ResourceReserved condition: (status, reason, message)."""
    phase = state.get("phase")
    attempt = state.get("attempts", 1)
    if phase == RESERVED:
        return True, REASON_RESERVED, f"reserved at attempt {attempt}"
    if phase == RESERVE_FAILED:
        return False, REASON_RESERVE_FAILED, failure_message(state, retry_interval_seconds(task))
    if phase == FAILED:
        return False, REASON_EXPIRED, expired_message(task, state)
    if phase == RESERVING:
        seconds = resource_reserved_seconds(task)
        return False, REASON_RESERVING, f"attempt {attempt}: waiting up to {seconds}s for pods"
    return False, REASON_CREATING, f"attempt {attempt}: making the pods behind their gate"


def expired_message(task: KusciaTask, state: Mapping[str, Any]) -> str:
    seconds = task.spec.schedule_config.lifecycle_seconds or DEFAULT_LIFECYCLE_SECONDS
    attempts = int(state.get("attempts") or 1)
    text = (
        f"The task was not scheduled within {seconds} seconds of its entire lifecycle "
        f"({attempts} reservation attempt{'s' if attempts != 1 else ''})"
    )
    unplaced = _unplaced_text(state)
    return text + (f"; last: {unplaced}" if unplaced else "")
