"""The Lease object's wire format: the leader election record as a
coordination.k8s.io/v1 Lease spec stores it, read strictly (a wrong type is an error
naming the Lease and field, never a silent default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""metav1.MicroTime on the wire: UTC, six fraction digits."""


class LeaseFormatError(ValueError):
    """A Lease's spec holds a value of the wrong type; the message names the Lease and field."""


@dataclass(frozen=True)
class LeaderElectionRecord:
    """Who holds the Lease, as its spec says. Absent fields read as empty, as in client-go."""

    holder_identity: str
    lease_duration_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    leader_transitions: int
    strategy: str = ""
    preferred_holder: str = ""


def format_micro_time(moment: datetime) -> str:
    """A timezone-aware datetime as metav1.MicroTime: `2006-01-02T15:04:05.000000Z`."""
    if moment.tzinfo is None:
        raise ValueError(f"MicroTime needs a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).strftime(MICRO_TIME_FORMAT)


def record_to_lease_spec(record: LeaderElectionRecord) -> dict[str, Any]:
    """The Lease spec that stores `record`."""
    spec: dict[str, Any] = {
        "holderIdentity": record.holder_identity,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "leaseTransitions": record.leader_transitions,
    }
    if record.acquire_time is not None:
        spec["acquireTime"] = format_micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = format_micro_time(record.renew_time)
    if record.strategy:
        spec["strategy"] = record.strategy
    if record.preferred_holder:
        spec["preferredHolder"] = record.preferred_holder
    return spec


def lease_spec_to_record(spec: Mapping[str, Any], *, lease: str) -> LeaderElectionRecord:
    """Reads a Lease spec; raises LeaseFormatError naming `lease` and the field if one is wrong."""

    def text(field: str) -> str:
        value = spec.get(field)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise LeaseFormatError(f"Lease {lease}: spec.{field} must be a string, got {value!r}")
        return value

    def number(field: str) -> int:
        value = spec.get(field)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise LeaseFormatError(f"Lease {lease}: spec.{field} must be an integer, got {value!r}")
        return value

    def moment(field: str) -> datetime | None:
        value = text(field)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise LeaseFormatError(f"Lease {lease}: spec.{field} is not a MicroTime: {value!r}")
        return parsed.astimezone(UTC)

    return LeaderElectionRecord(
        holder_identity=text("holderIdentity"),
        lease_duration_seconds=number("leaseDurationSeconds"),
        acquire_time=moment("acquireTime"),
        renew_time=moment("renewTime"),
        leader_transitions=number("leaseTransitions"),
        strategy=text("strategy"),
        preferred_holder=text("preferredHolder"),
    )
