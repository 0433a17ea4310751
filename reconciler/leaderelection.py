"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.

`LeaderElector.run(lead)` waits for the Lease, runs `lead()` while renewing it, and cancels
`lead()` as soon as a renewal round misses its deadline. Expiry is judged on the local
monotonic clock (how long since this process last saw the record change), never by comparing
the Lease's timestamps with local time, so clock skew between replicas does not matter.

The elector is also the write gate: `check_write()` is the guard the controller's `Kube`
runs before every write (see write_fence), so the lease arithmetic lives here only. The
Lease's own calls go through a `Kube` of their own with no guard: renewing must not wait
for the lease it renews.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import anyio
import structlog

from informers.clock import Clock, RealClock
from informers.connection import Api
from reconciler.kube import LEASE, ApiError, Kube
from reconciler.leaselock import (
    MICRO_TIME_FORMAT,
    LeaderElectionRecord,
    LeaseFormatError,
    format_micro_time,
    lease_spec_to_record,
    record_to_lease_spec,
)
from reconciler.write_fence import HEADERS_TO_BODY

log = structlog.get_logger(__name__)

JITTER_FACTOR = 1.2
"""The acquire loop sleeps retry_period * (1 + U[0,1) * JITTER_FACTOR) between attempts,
or less when the observed lease runs out sooner."""

EXPIRY_MARGIN = 0.001
"""The acquire loop wakes this long after the observed lease runs out, so it has run out."""

RELEASED_LEASE_SECONDS = 1
"""leaseDurationSeconds written on release, as client-go does."""

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


__all__ = [
    "MICRO_TIME_FORMAT",
    "LeaderElectionConfig",
    "LeaderElectionConfigError",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaseFormatError",
    "LeaseNotHeld",
    "format_micro_time",
    "lease_spec_to_record",
    "record_to_lease_spec",
    "write_window",
]


class LeaseNotHeld(Exception):
    """A write refused because this replica's lease is not fresh: a successor may lead."""


class LeaderElectionConfigError(ValueError):
    """A LeaderElectionConfig value is unusable; the message names the field."""


class LeaseCallError(Exception):
    """An HTTP call about the Lease failed before an answer came back (network, timeout)."""


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Which Lease to hold, as whom, and how fast. The defaults are client-go's."""

    lease_name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    """How long a candidate waits without seeing the record change before it takes over."""
    renew_deadline: float = 10.0
    """How long the leader keeps retrying one renewal before it stops leading."""
    retry_period: float = 2.0
    """The pause between attempts to acquire or renew."""
    release_on_cancel: bool = True
    """Clear the holder when leading ends, so a standby takes over without waiting."""

    def __post_init__(self) -> None:
        _validate(self)


def _validate(config: LeaderElectionConfig) -> None:
    def fail(message: str) -> None:
        raise LeaderElectionConfigError(f"leader election config: {message}")

    if not _DNS_SUBDOMAIN.fullmatch(config.lease_name) or len(config.lease_name) > 253:
        fail(f"lease_name {config.lease_name!r} is not a DNS-1123 subdomain")
    if not _DNS_LABEL.fullmatch(config.namespace) or len(config.namespace) > 63:
        fail(f"namespace {config.namespace!r} is not a DNS-1123 label")
    if not config.identity:
        fail("identity must not be empty")
    for field in ("lease_duration", "renew_deadline", "retry_period"):
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(f"{field} must be a number of seconds, got {value!r}")
        if not math.isfinite(value) or value <= 0:
            fail(f"{field} must be a finite number greater than zero, got {value!r}")
    if config.lease_duration < 1:
        # leaseDurationSeconds is a whole number of seconds and the API server wants it > 0.
        fail(f"lease_duration must be at least 1 second, got {config.lease_duration!r}")
    if config.lease_duration <= config.renew_deadline:
        fail(
            f"lease_duration ({config.lease_duration}) must be greater than "
            f"renew_deadline ({config.renew_deadline})"
        )
    if config.renew_deadline <= JITTER_FACTOR * config.retry_period:
        fail(
            f"renew_deadline ({config.renew_deadline}) must be greater than "
            f"{JITTER_FACTOR} x retry_period ({config.retry_period})"
        )


def write_window(lease_left: float, config: LeaderElectionConfig) -> float:
    """Seconds a write sent now may still take effect, given `lease_left` seconds until the
    renew deadline. A successor takes over no sooner than lease_duration after the last
    renewal, and the server's deadline for a write may trail its check by HEADERS_TO_BODY."""
    margin = config.lease_duration - config.renew_deadline
    return max(min(lease_left, lease_left + margin - HEADERS_TO_BODY), 0.0)


class LeaderElector:
    """Holds one Lease for one identity; `run()` is the whole lifecycle.

    `on_new_leader(identity)` is called synchronously whenever the observed holder changes,
    including the first observation and the empty holder a release leaves; it must not block.
    """

    def __init__(
        self,
        api: Api,
        config: LeaderElectionConfig,
        *,
        clock: Clock | None = None,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        self._config = config
        self._clock: Clock = clock or RealClock()
        self._on_new_leader = on_new_leader
        self._random = random.Random()
        # Unguarded and uncounted: these are the lease's calls, not the controller's writes.
        # Belt and braces: the renew round's deadline cancels calls on the injected clock;
        # the timeout bounds every call in real time, including those of the acquire loop.
        self._kube = Kube(api, timeout=config.renew_deadline, count_writes=False)
        self._path = LEASE.path(config.namespace, config.lease_name)
        self._where = f"{config.namespace}/{config.lease_name}"
        self._log = log.bind(lease=self._where, identity=config.identity)
        self._lease: dict[str, Any] | None = None
        self._observed: LeaderElectionRecord | None = None
        self._observed_time = self._clock.now()
        self._renewed_at = -math.inf  # when the last successful acquire/renew was sent
        self._reported_leader = ""
        self._leading = False
        self._running = False

    @property
    def config(self) -> LeaderElectionConfig:
        return self._config

    @property
    def is_leader(self) -> bool:
        """True from acquiring the Lease until leading stops (lost, cancelled or done)."""
        return self._leading

    @property
    def leader(self) -> str:
        """The holder this elector last observed; empty before the first observation."""
        return self._observed.holder_identity if self._observed else ""

    def healthy(self, max_tolerable_expiry: float = 20.0) -> bool:
        """False when leading yet the record has not been renewed for lease_duration plus
        `max_tolerable_expiry` seconds: the renew loop is stuck and the process should die."""
        if not self._leading:
            return True
        stale_for = self._clock.now() - self._observed_time
        return stale_for <= self._config.lease_duration + max_tolerable_expiry

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Waits to acquire; then runs `lead()` while renewing; cancels `lead()` the moment
        leadership is lost and returns; on cancellation releases the lease (if
        release_on_cancel) and re-raises.

        `lead()` returning or raising also ends leading: the Lease is released (if
        release_on_cancel) and `run()` returns or re-raises that exception. After a loss the
        release is tried too; it writes only if the Lease still names this identity. The
        release always comes after `lead()` has finished, so the guarded work never overlaps
        a successor's."""
        if self._running:
            raise RuntimeError(f"leader election on {self._where} is already running")
        self._running = True
        try:
            await self._run(lead)
        finally:
            self._running = False

    async def _run(self, lead: Callable[[], Awaitable[None]]) -> None:
        self._log.info("leader election: waiting to acquire")
        await self._acquire()
        self._leading = True
        self._log.info("leader election: acquired the lease; leading")
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as leading:
                leading.start_soon(self._renew_until_lost, leading.cancel_scope)
                try:
                    await lead()
                except Exception as error:  # re-raised after the lease is released
                    failure = error
                leading.cancel_scope.cancel()
        finally:
            self._leading = False
            if self._config.release_on_cancel:
                with anyio.CancelScope(shield=True):
                    await self._release()
        if failure is not None:
            raise failure

    def lease_time_left(self) -> float:
        """Seconds until the renew deadline of the last successful renewal, on the local
        monotonic clock (0 when not leading or already past). A standby takes over no sooner
        than lease_duration after it saw that renewal, so work gated on this stops before a
        successor starts, even when this process was paused (SIGSTOP, a frozen VM) and wakes
        up still believing that it leads."""
        if not self._leading:
            return 0.0
        left = self._renewed_at + self._config.renew_deadline - self._clock.now()
        return max(left, 0.0)

    def write_time_left(self) -> float:
        """Seconds a write sent now may still take effect (0: it must not be sent)."""
        return write_window(self.lease_time_left(), self._config)

    def may_write(self) -> bool:
        return self.write_time_left() > 0.0

    def check_write(self) -> float:
        """The write guard (see write_fence): raises LeaseNotHeld when this replica may not
        write, else returns how long the write may still take effect."""
        left = self.write_time_left()
        if left == 0.0:
            raise LeaseNotHeld("not writing: this replica's lease is not fresh")
        return left

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the Lease (LE-5); True when this identity holds it."""
        sent = self._clock.now()
        held = await self._try_acquire_or_renew()
        if held:
            self._renewed_at = sent
        return held

    async def _try_acquire_or_renew(self) -> bool:
        config = self._config
        observed = self._observed
        if (
            observed is not None
            and observed.holder_identity == config.identity
            and self._observed_is_valid()
        ):
            renewal = self._record(
                acquire_time=observed.acquire_time, transitions=observed.leader_transitions
            )
            try:
                if await self._update(renewal):
                    return True
            except LeaseCallError as error:
                self._log.info("leader election: optimistic renew failed", error=str(error))

        try:
            status, lease = await self._get()
        except LeaseCallError as error:
            self._log.warning("leader election: cannot read the lease", error=str(error))
            return False
        if status == 404:
            return await self._create(self._record(acquire_time=None, transitions=0))
        current = self._accept_lease(status, lease)
        if current is None:
            return False

        if current.holder_identity != config.identity:
            if current.holder_identity and self._observed_is_valid():
                return False
            record = self._record(acquire_time=None, transitions=current.leader_transitions + 1)
        else:
            record = self._record(
                acquire_time=current.acquire_time, transitions=current.leader_transitions
            )
        try:
            return await self._update(record)
        except LeaseCallError as error:
            self._log.warning("leader election: cannot write the lease", error=str(error))
            return False

    # --- loops -------------------------------------------------------------------------

    async def _acquire(self) -> None:
        retry = self._config.retry_period
        while not await self.try_acquire_or_renew():
            self._log.debug("leader election: lease held elsewhere", holder=self.leader)
            pause = retry * (1 + self._random.random() * JITTER_FACTOR)
            # Try again the moment the observed lease runs out rather than up to a jittered
            # retry period later: a dead leader is replaced lease_duration after its last
            # observed renewal, not up to 2.2 retry periods after that.
            remaining = self._observed_time + self._observed_duration() - self._clock.now()
            if 0 < remaining < pause:
                pause = remaining + EXPIRY_MARGIN
            await self._clock.sleep(pause)

    async def _renew_until_lost(self, leading: anyio.CancelScope) -> None:
        config = self._config
        while True:
            # Acquiring counts as the first round, so the first renewal is one period later.
            await self._clock.sleep(config.retry_period)
            if not await self._within(config.renew_deadline, self._renew_round):
                self._log.warning(
                    "leader election: could not renew within the deadline; stopped leading",
                    renew_deadline=config.renew_deadline,
                    holder=self.leader,
                )
                self._leading = False
                leading.cancel()
                return

    async def _renew_round(self) -> bool:
        while not await self.try_acquire_or_renew():
            await self._clock.sleep(self._config.retry_period)
        return True

    async def _release(self) -> None:
        """LE-7: hand the Lease back (empty holder, 1 s) if this identity still holds it."""
        if not await self._within(self._config.renew_deadline, self._release_round):
            self._log.warning("leader election: could not release the lease in time")

    async def _release_round(self) -> bool:
        while not await self._try_release():
            await self._clock.sleep(self._config.retry_period)
        return True

    async def _try_release(self) -> bool:
        try:
            status, lease = await self._get()
            if status == 404:
                return True
            current = self._accept_lease(status, lease)
            if current is None:
                return False
            if current.holder_identity != self._config.identity:
                return True
            now = self._clock.wall()
            released = LeaderElectionRecord(
                holder_identity="",
                lease_duration_seconds=RELEASED_LEASE_SECONDS,
                acquire_time=now,
                renew_time=now,
                leader_transitions=current.leader_transitions,
            )
            if not await self._update(released):
                return False
        except LeaseCallError as error:
            self._log.warning("leader election: release attempt failed", error=str(error))
            return False
        self._log.info("leader election: released the lease")
        return True

    async def _within(self, seconds: float, attempt: Callable[[], Awaitable[bool]]) -> bool:
        """Runs `attempt` with a deadline on the injected clock; False if the deadline came
        first, in which case the attempt (and any HTTP call in flight) has been cancelled."""
        result = False
        async with anyio.create_task_group() as bounded:

            async def expire() -> None:
                await self._clock.sleep(seconds)
                bounded.cancel_scope.cancel()

            bounded.start_soon(expire)
            result = await attempt()
            bounded.cancel_scope.cancel()
        return result

    # --- observation -------------------------------------------------------------------

    def _record(self, *, acquire_time: datetime | None, transitions: int) -> LeaderElectionRecord:
        now = self._clock.wall()
        return LeaderElectionRecord(
            holder_identity=self._config.identity,
            lease_duration_seconds=int(self._config.lease_duration),
            acquire_time=acquire_time or now,
            renew_time=now,
            leader_transitions=transitions,
        )

    def _observed_duration(self) -> float:
        return self._observed.lease_duration_seconds if self._observed is not None else 0.0

    def _observed_is_valid(self) -> bool:
        """LE-4: valid while the local clock has not passed observed_time + its duration."""
        if self._observed is None:
            return False
        return self._observed_time + self._observed_duration() > self._clock.now()

    def _observe(self, record: LeaderElectionRecord) -> None:
        self._observed = record
        self._observed_time = self._clock.now()
        if record.holder_identity != self._reported_leader:
            self._reported_leader = record.holder_identity
            self._log.info("leader election: new leader observed", holder=record.holder_identity)
            if self._on_new_leader is not None:
                self._on_new_leader(record.holder_identity)

    def _accept_lease(self, status: int, lease: dict[str, Any]) -> LeaderElectionRecord | None:
        """Caches a Lease read from the server and notes its record if it changed."""
        if status != 200:
            self._log.warning(
                "leader election: cannot read the lease", status=status, reason=_message(lease)
            )
            return None
        current = self._keep(lease)
        if current is not None and current != self._observed:
            self._observe(current)
        return current

    def _keep(self, lease: dict[str, Any]) -> LeaderElectionRecord | None:
        """The record of a Lease the server returned, which is kept as the one to update
        next; None (logged) when the Lease cannot be read as a leader election record."""
        try:
            record = lease_spec_to_record(lease.get("spec") or {}, lease=self._where)
        except LeaseFormatError as error:
            self._log.error("leader election: unreadable lease", error=str(error))
            return None
        self._lease = lease
        return record

    # --- HTTP --------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body); a failure before an answer raises LeaseCallError."""
        try:
            return 200, await self._kube.request(method, path, body=body)
        except ApiError as error:
            return error.code, {"reason": error.reason, "message": error.message}
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise LeaseCallError(f"{type(error).__name__}: {error}") from error

    async def _get(self) -> tuple[int, dict[str, Any]]:
        return await self._call("GET", self._path)

    async def _create(self, record: LeaderElectionRecord) -> bool:
        config = self._config
        body = {
            "apiVersion": LEASE.api_version,
            "kind": LEASE.kind,
            "metadata": {"name": config.lease_name, "namespace": config.namespace},
            "spec": record_to_lease_spec(record),
        }
        try:
            status, lease = await self._call("POST", LEASE.path(config.namespace), body)
        except LeaseCallError as error:
            self._log.warning("leader election: cannot create the lease", error=str(error))
            return False
        return self._accept_write(status, lease, "create")

    async def _update(self, record: LeaderElectionRecord) -> bool:
        """PUT the cached Lease with a new spec; its resourceVersion makes a stale write 409."""
        if self._lease is None:
            return False
        body = {**self._lease, "spec": record_to_lease_spec(record)}
        status, lease = await self._call("PUT", self._path, body)
        return self._accept_write(status, lease, "update")

    def _accept_write(self, status: int, lease: dict[str, Any], verb: str) -> bool:
        if status not in (200, 201):
            self._log.info(
                "leader election: lease write refused",
                verb=verb,
                status=status,
                reason=_message(lease),
            )
            return False
        written = self._keep(lease)
        if written is None:
            return False
        self._observe(written)
        return True


def _message(body: Mapping[str, Any]) -> str:
    return f"{body.get('reason', '')}: {body.get('message', '')}".strip(": ")
