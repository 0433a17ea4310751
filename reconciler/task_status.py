"""The task lifecycle rules (SPEC §6), in one place: from the task, what the
builders made of it and the Pods seen in the cache, the status the task should
have. Pure: no I/O, the time is an argument."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from builders import BuildError, Plan
from builders.models import KusciaTask
from reconciler import reservation as reserve

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
FINISHED = frozenset({SUCCEEDED, FAILED})
DEFAULT_LIFECYCLE_SECONDS = reserve.DEFAULT_LIFECYCLE_SECONDS

CONDITION_TYPES = ("PortsAllocated", "ResourceCreated", reserve.CONDITION, "Running", "Success")
# Set on a Service by Kuscia's gateway when its endpoints are ready.
READY_TIME_ANNOTATION = "kuscia.secretflow/ready-time"


def timestamp(moment: datetime) -> str:
    """metav1.Time: RFC 3339, UTC, whole seconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def resources_created(status: Mapping[str, Any]) -> bool:
    """Whether a stored status says every object of the task was made."""
    return any(
        c.get("type") == "ResourceCreated" and c.get("status") == "True"
        for c in status.get("conditions", [])
    )


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Observed:
    """The task's children as the caches show them, keyed "namespace/name"."""

    pods: Mapping[str, Mapping[str, Any]]
    services: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Verdict:
    phase: str
    reason: str
    message: str


def lifecycle_deadline(task: KusciaTask, created: datetime) -> float:
    """Seconds since the epoch at which a still-Pending task fails."""
    seconds = task.spec.schedule_config.lifecycle_seconds or DEFAULT_LIFECYCLE_SECONDS
    return created.timestamp() + seconds


# A container waiting for one of these reasons will not start by itself: its pod counts as
# failed (Kuscia's list, with ErrImagePull and ImagePullBackOff: no registry retry helps a
# task that waits for ever).
FAILED_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "CreateContainerError",
        "CreateContainerConfigError",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "ImageInspectError",
        "RegistryUnavailable",
        "PreStartHookError",
        "PostStartHookError",
    }
)


def _pod_phase(pod: Mapping[str, Any]) -> str:
    return str(pod.get("status", {}).get("phase") or PENDING)


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status", {})
    return [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]


def stuck_container(pod: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(container, reason, message) of the first container waiting for a reason that
    never clears by itself; None when there is none."""
    for container in _containers(pod):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FAILED_WAITING_REASONS:
            return (
                str(container.get("name")),
                str(waiting["reason"]),
                str(waiting.get("message", "")),
            )
    return None


def pod_failed(pod: Mapping[str, Any]) -> bool:
    """Failed as Kuscia counts it: phase Failed, or a container stuck (stuck_container)."""
    phase = _pod_phase(pod)
    if phase == FAILED:
        return True
    return phase in (PENDING, RUNNING) and stuck_container(pod) is not None


def _pod_failure(pod: Mapping[str, Any]) -> str:
    status = pod.get("status", {})
    stuck = stuck_container(pod) if _pod_phase(pod) != FAILED else None
    if stuck is not None:
        name, reason, message = stuck
        return f"container {name} is waiting: {reason}" + (f" ({message})" if message else "")
    detail = status.get("message") or status.get("reason") or ""
    for container in status.get("containerStatuses", []) or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode"):
            detail = detail or (
                f"container {container.get('name')} exited with {terminated['exitCode']}"
                + (f" ({terminated['reason']})" if terminated.get("reason") else "")
            )
    return str(detail)


def party_verdicts(plan: Plan, observed: Observed, seen_before: Mapping[str, Any]) -> list[Verdict]:
    """One verdict per party, in task order (remote parties are reported, not judged)."""
    verdicts = []
    for party in plan.parties:
        if not party.local:
            verdicts.append(Verdict("", "", f"party {party.domain_id} runs in a partner domain"))
            continue
        keys = [f"{party.namespace}/{name}" for name in party.pods]
        gone = [k for k in keys if k not in observed.pods and k in seen_before]
        phases = [_pod_phase(observed.pods[k]) for k in keys if k in observed.pods]
        failed = [k for k in keys if k in observed.pods and pod_failed(observed.pods[k])]
        succeeded = phases.count(SUCCEEDED)
        tolerated = party.replicas - party.min_reserved_pods
        who = f"party {party.domain_id}" + (f" ({party.role})" if party.role else "")
        if gone:
            verdicts.append(Verdict(FAILED, "PodNotFound", f"{who}: pod {gone[0]} is gone"))
        elif len(failed) > tolerated:
            detail = _pod_failure(observed.pods[failed[0]])
            message = f"{who}: pod {failed[0]} failed" + (f": {detail}" if detail else "")
            verdicts.append(Verdict(FAILED, "PodFailed", message))
        elif succeeded >= party.min_reserved_pods:
            verdicts.append(Verdict(SUCCEEDED, "", f"{who}: {succeeded} pod(s) succeeded"))
        elif any(p != PENDING for p in phases):
            verdicts.append(Verdict(RUNNING, "", f"{who} is running"))
        else:
            verdicts.append(Verdict(PENDING, "", f"{who} is waiting for its pods"))
    return verdicts


def task_verdict(task: KusciaTask, verdicts: list[Verdict]) -> Verdict:
    judged = [v for v in verdicts if v.phase]
    if not judged:
        return Verdict(RUNNING, "", "every party runs in a partner domain")
    wanted = min(task.spec.schedule_config.min_reserved_members or len(judged), len(judged))
    failed = [v for v in judged if v.phase == FAILED]
    if len(judged) - len(failed) < wanted:
        return Verdict(FAILED, failed[0].reason, failed[0].message)
    succeeded = sum(v.phase == SUCCEEDED for v in judged)
    if succeeded >= wanted:  # Kuscia's rule: enough parties succeeded, whatever the rest do
        return Verdict(
            SUCCEEDED, "TaskSucceeded", f"{succeeded} of {len(judged)} parties succeeded"
        )
    if any(v.phase in (RUNNING, SUCCEEDED, FAILED) for v in judged):
        return Verdict(RUNNING, "", "")
    return Verdict(PENDING, "", "")


def _conditions(
    old: list[dict[str, Any]], wanted: dict[str, tuple[bool, str, str]], now: str
) -> list[dict[str, Any]]:
    """Kuscia's conditions; lastTransitionTime moves only when the status flips."""
    previous = {c.get("type"): c for c in old}
    result = []
    for kind in CONDITION_TYPES:
        if kind not in wanted:
            if kind in previous:
                result.append(dict(previous[kind]))
            continue
        ok, reason, message = wanted[kind]
        status = "True" if ok else "False"
        before = previous.get(kind, {})
        since = before.get("lastTransitionTime") if before.get("status") == status else None
        condition = {"type": kind, "status": status, "lastTransitionTime": since or now}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        result.append(condition)
    return result


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for condition in status.get("conditions", []) or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _termination_log(pod: Mapping[str, Any]) -> str:
    """Kuscia's terminationLog: the first container that terminated (now, else last time)
    with a message (the log tail, by terminationMessagePolicy FallbackToLogsOnError)."""
    for container in pod.get("status", {}).get("containerStatuses", []) or []:
        for state, words in (("state", "terminated state"), ("lastState", "last terminated state")):
            terminated = (container.get(state) or {}).get("terminated") or {}
            if terminated.get("message"):
                return (
                    f"container[{container.get('name')}] {words} reason "
                    f"{json.dumps(terminated.get('reason', ''))}, message: "
                    f"{json.dumps(terminated['message'])}"
                )
            if terminated:
                break
    return ""


def _pod_reason_and_message(pod: Mapping[str, Any]) -> tuple[str, str]:
    """The pod's own reason and message; else a terminated container's reason; else why the
    scheduler did not place it (PodScheduled=False); else a waiting container's."""
    status = pod.get("status", {})
    reason, message = str(status.get("reason") or ""), str(status.get("message") or "")
    for container in status.get("containerStatuses", []) or []:
        state = container.get("state") or {}
        terminated = state.get("terminated") or (container.get("lastState") or {}).get("terminated")
        if terminated and not reason:
            reason = str(terminated.get("reason") or "")
    if pod_failed(pod) and _pod_phase(pod) != FAILED:
        return reason or str((stuck_container(pod) or ("", "", ""))[1]), _pod_failure(pod)
    if _pod_phase(pod) == FAILED:
        return reason, _pod_failure(pod)
    scheduled = _condition(status, "PodScheduled")
    if scheduled.get("status") == "False":
        return reason or str(scheduled.get("reason") or ""), message or str(
            scheduled.get("message") or ""
        )
    for container in status.get("containerStatuses", []) or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting and not reason:
            reason = str(waiting.get("reason") or "")
        if waiting.get("message") and not message:
            message = (
                f"container[{container.get('name')}] waiting state reason: "
                f"{json.dumps(waiting.get('reason', ''))}, message: "
                f"{json.dumps(waiting['message'])}"
            )
    return reason, message


def _pod_statuses(observed: Observed) -> dict[str, dict[str, Any]]:
    result = {}
    for key, pod in sorted(observed.pods.items()):
        meta, status = pod["metadata"], pod.get("status", {})
        reason, message = _pod_reason_and_message(pod)
        scheduled, ready = _condition(status, "PodScheduled"), _condition(status, "Ready")
        entry = {
            "podName": meta["name"],
            "namespace": meta["namespace"],
            "podPhase": _pod_phase(pod),
            "createTime": meta.get("creationTimestamp"),
            "nodeName": pod.get("spec", {}).get("nodeName"),
            "scheduleTime": scheduled.get("lastTransitionTime")
            if scheduled.get("status") == "True"
            else None,
            "startTime": status.get("startTime"),
            "readyTime": ready.get("lastTransitionTime") if ready.get("status") == "True" else None,
            "reason": reason,
            "message": message,
            "terminationLog": _termination_log(pod),
        }
        result[key] = {k: v for k, v in entry.items() if v}
    return result


def _service_statuses(plan: Plan, observed: Observed) -> dict[str, dict[str, Any]]:
    """readyTime: Kuscia's gateway's `ready-time` annotation where it runs, else the time
    the Service's pod became Ready."""
    pod_statuses = _pod_statuses(observed)
    result = {}
    for party in plan.parties:
        for service in party.services:
            key = f"{service.namespace}/{service.name}"
            live = observed.services.get(key)
            if live is None:
                continue
            annotations = live["metadata"].get("annotations") or {}
            pod = pod_statuses.get(f"{service.namespace}/{service.pod}", {})
            entry = {
                "namespace": service.namespace,
                "serviceName": service.name,
                "portName": service.port_name,
                "portNumber": service.port_number,
                "scope": str(service.scope),
                "createTime": live["metadata"].get("creationTimestamp"),
                "readyTime": annotations.get(READY_TIME_ANNOTATION) or pod.get("readyTime"),
            }
            result[key] = {k: v for k, v in entry.items() if v}
    return result


def _failed_throughout(status: dict[str, Any]) -> None:
    """A failed task reports its parties and pods still Pending or Running as Failed too
    (new dicts: the old status' are never changed)."""
    unfinished = (PENDING, RUNNING)
    status["partyTaskStatus"] = [
        {**party, "phase": FAILED} if party.get("phase") in unfinished else party
        for party in status.get("partyTaskStatus", [])
    ]
    status["podStatuses"] = {
        key: {**pod, "podPhase": FAILED} if pod.get("podPhase") in unfinished else pod
        for key, pod in status.get("podStatuses", {}).items()
    }


def desired_status(
    task: KusciaTask,
    old: Mapping[str, Any],
    outcome: Plan | BuildError,
    observed: Observed,
    now: datetime,
    *,
    all_objects_exist: bool,
    reservation: reserve.After | None = None,
) -> dict[str, Any]:
    """The whole status the task should carry now (camelCase JSON).

    `reservation` is the reservation's state after this round (None: not judged,
    as for a caller that runs no reservation); until it holds, the task stays
    Pending whatever its pods do, and it fails when lifecycleSeconds runs out first.

    `old` is the status as stored (not re-serialized from the model, whose
    defaults would make every comparison differ). `all_objects_exist` says
    every object of the plan exists (applied this round or found unchanged). Time stamps
    that did not change are carried over, so a task whose situation is
    unchanged gets an identical status and no write.
    """
    old = dict(old)
    stamp = timestamp(now)
    status: dict[str, Any] = {
        "startTime": old.get("startTime") or stamp,
        "observedGeneration": task.metadata.generation,
    }
    if old.get("phase") in FINISHED:  # terminal: nothing moves any more
        return dict(old)
    created_at = parse_time(task.metadata.creation_timestamp) or now
    expired = now.timestamp() >= lifecycle_deadline(task, created_at)

    if isinstance(outcome, BuildError):
        if outcome.waiting and not expired:
            verdict = Verdict(PENDING, outcome.reason, outcome.message)
        elif outcome.waiting:
            verdict = Verdict(
                FAILED,
                "LifecycleExpired",
                f"still waiting after lifecycleSeconds: {outcome.message}",
            )
        else:
            verdict = Verdict(FAILED, outcome.reason, outcome.message)
        conditions = {"ResourceCreated": (False, outcome.reason, outcome.message)}
        status["partyTaskStatus"] = [
            {"domainID": p.domain_id, "role": p.role, "phase": verdict.phase}
            for p in task.spec.parties
        ]
        for key in (
            "allocatedPorts",
            "boundAppImages",
            "podStatuses",
            "serviceStatuses",
            "reservation",
        ):
            if key in old:
                status[key] = old[key]
    else:
        held = reservation is None or reservation.reserved
        # Pods a failed reservation removed are not "gone": only a held one's are.
        seen_before = old.get("podStatuses", {}) if held else {}
        parties = party_verdicts(outcome, observed, seen_before) if all_objects_exist else []
        verdict = task_verdict(task, parties) if all_objects_exist else Verdict(PENDING, "", "")
        if not held and verdict.phase in (RUNNING, SUCCEEDED):
            verdict = Verdict(PENDING, "", "")
        failed = reservation is not None and reservation.state.get("phase") == reserve.FAILED
        if reservation is not None and failed and verdict.phase != FAILED:
            verdict = Verdict(
                FAILED, reserve.REASON_EXPIRED, reserve.expired_message(task, reservation.state)
            )
        elif (
            reservation is not None
            and reservation.state.get("phase") == reserve.RESERVE_FAILED
            and verdict.phase == PENDING
        ):
            verdict = Verdict(PENDING, "", reserve.failure_message(reservation.state))
        if verdict.phase == PENDING and expired and all_objects_exist:
            verdict = Verdict(
                FAILED, "LifecycleExpired", "pods did not start within lifecycleSeconds"
            )
        conditions = {
            "PortsAllocated": (True, "", ""),
            "ResourceCreated": (all_objects_exist, "" if all_objects_exist else "Creating", ""),
        }
        if reservation is not None:
            conditions[reserve.CONDITION] = reserve.condition(task, reservation.state)
            status["reservation"] = reservation.state
        if verdict.phase in (RUNNING, SUCCEEDED, FAILED) and all_objects_exist and held:
            conditions["Running"] = (True, "", "")
        if verdict.phase in FINISHED:
            conditions["Success"] = (verdict.phase == SUCCEEDED, verdict.reason, verdict.message)
        status["partyTaskStatus"] = [
            {
                k: v
                for k, v in {
                    "domainID": party.domain_id,
                    "role": party.role,
                    "phase": (parties[i].phase if parties else PENDING),
                    "message": (parties[i].message if parties else ""),
                }.items()
                if v
            }
            for i, party in enumerate(outcome.parties)
        ]
        status["allocatedPorts"] = [
            a.model_dump(by_alias=True, exclude_defaults=False, mode="json")
            for a in outcome.allocated_ports
        ]
        status["boundAppImages"] = old.get("boundAppImages") or [
            b.model_dump(by_alias=True, exclude_none=True, mode="json")
            for b in outcome.bound_app_images
        ]
        status["podStatuses"] = _pod_statuses(observed)
        status["serviceStatuses"] = _service_statuses(outcome, observed)

    status["phase"] = verdict.phase
    if verdict.phase == FAILED:
        _failed_throughout(status)
    if not verdict.message and isinstance(outcome, Plan) and outcome.warnings:
        first = outcome.warnings[0].message
        more = len(outcome.warnings) - 1
        verdict = Verdict(
            verdict.phase, verdict.reason, first + (f" (+{more} more)" if more else "")
        )
    if verdict.reason:
        status["reason"] = verdict.reason
    if verdict.message:
        status["message"] = verdict.message
    status["conditions"] = _conditions(old.get("conditions", []), conditions, stamp)
    if verdict.phase in FINISHED:
        status["completionTime"] = stamp
    status = {k: v for k, v in status.items() if v not in (None, "", [], {})}
    if same_status(old, status):
        return old
    status["lastReconcileTime"] = stamp
    return status


def same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Equal but for lastReconcileTime, which moves only when something else does."""
    strip = {"lastReconcileTime"}
    return {k: v for k, v in old.items() if k not in strip} == {
        k: v for k, v in new.items() if k not in strip
    }
