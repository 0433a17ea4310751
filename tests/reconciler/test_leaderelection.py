"""Leader election on a real Lease: one leader at a time, release and takeover, losing the
lease when renewals fail, and expiry measured on the local clock (rules LE-1 … LE-8).

Timing tests use short real durations (lease 2 s, renew 1.5 s, retry 0.3 s); expiry rules
use FakeClock so that "not before lease_duration" is exact."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import anyio.abc
import pytest
from kubernetes_asyncio import client, config

from devcluster.cluster import ControlPlane
from informers.clock import Clock, FakeClock
from reconciler.leaderelection import (
    LeaderElectionConfig,
    LeaderElectionConfigError,
    LeaderElectionRecord,
    LeaderElector,
    LeaseFormatError,
    format_micro_time,
    lease_spec_to_record,
    record_to_lease_spec,
)

LEASE = "kuscia-reconciler"
MICRO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def fast(namespace: str, identity: str, **overrides: Any) -> LeaderElectionConfig:
    values: dict[str, Any] = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.3}
    values.update(overrides)
    return LeaderElectionConfig(lease_name=LEASE, namespace=namespace, identity=identity, **values)


# --- configuration (LE-1) -------------------------------------------------------------


def test_config_defaults_are_client_gos_15_10_2() -> None:
    config = LeaderElectionConfig(lease_name="l", namespace="ns", identity="me")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    assert config.release_on_cancel


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"lease_duration": 10.0}, ("lease_duration", "renew_deadline")),
        ({"lease_duration": 9.0}, ("lease_duration", "renew_deadline")),
        ({"retry_period": 9.0}, ("renew_deadline", "retry_period")),
        ({"renew_deadline": 2.4, "retry_period": 2.0}, ("renew_deadline", "retry_period")),
        ({"retry_period": 0.0}, ("retry_period",)),
        ({"renew_deadline": -1.0}, ("renew_deadline",)),
        ({"lease_duration": float("nan")}, ("lease_duration",)),
        ({"lease_duration": float("inf")}, ("lease_duration",)),
        ({"retry_period": "2"}, ("retry_period",)),
        ({"retry_period": True}, ("retry_period",)),
        ({"lease_duration": 0.9, "renew_deadline": 0.5, "retry_period": 0.1}, ("lease_duration",)),
        ({"identity": ""}, ("identity",)),
        ({"lease_name": "Not_A_Name"}, ("lease_name",)),
        ({"lease_name": ""}, ("lease_name",)),
        ({"namespace": "a.b"}, ("namespace",)),
        ({"namespace": "x" * 64}, ("namespace",)),
    ],
)
def test_config_rejects_unusable_values_naming_the_field(
    overrides: dict[str, Any], names: tuple[str, ...]
) -> None:
    values: dict[str, Any] = {"lease_name": "l", "namespace": "ns", "identity": "me"}
    values.update(overrides)
    with pytest.raises(LeaderElectionConfigError) as raised:
        LeaderElectionConfig(**values)
    for name in names:
        assert name in str(raised.value)


def test_config_accepts_the_short_durations_the_tests_use() -> None:
    config = fast("ns", "me")
    assert config.renew_deadline > 1.2 * config.retry_period


def test_config_copied_with_replace_is_validated_again() -> None:
    with pytest.raises(LeaderElectionConfigError, match="renew_deadline"):
        replace(fast("ns", "me"), renew_deadline=5.0)


# --- the record in a Lease spec (LE-2) ----------------------------------------------------


def test_micro_time_is_utc_with_six_fraction_digits() -> None:
    east = timezone(timedelta(hours=8))
    moment = datetime(2026, 3, 4, 13, 5, 6, 7, tzinfo=east)
    assert format_micro_time(moment) == "2026-03-04T05:05:06.000007Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_micro_time(datetime(2026, 3, 4))


def test_record_round_trips_through_a_lease_spec() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    record = LeaderElectionRecord(
        holder_identity="me",
        lease_duration_seconds=15,
        acquire_time=moment,
        renew_time=moment + timedelta(seconds=2),
        leader_transitions=3,
    )
    spec = record_to_lease_spec(record)
    assert spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 15,
        "leaseTransitions": 3,
        "acquireTime": format_micro_time(moment),
        "renewTime": format_micro_time(moment + timedelta(seconds=2)),
    }
    assert lease_spec_to_record(json.loads(json.dumps(spec)), lease="ns/l") == record


def test_absent_spec_fields_read_as_a_free_lease() -> None:
    record = lease_spec_to_record({}, lease="ns/l")
    assert record == LeaderElectionRecord("", 0, None, None, 0)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"holderIdentity": 7}, "spec.holderIdentity"),
        ({"leaseDurationSeconds": "15"}, "spec.leaseDurationSeconds"),
        ({"leaseTransitions": True}, "spec.leaseTransitions"),
        ({"renewTime": "yesterday"}, "spec.renewTime"),
        ({"acquireTime": "2026-01-01T00:00:00"}, "spec.acquireTime"),
    ],
)
def test_malformed_lease_spec_is_reported_with_lease_and_field(
    spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(LeaseFormatError, match=f"Lease ns/l: {re.escape(field)}"):
        lease_spec_to_record(spec, lease="ns/l")


# --- helpers for the API-server tests ---------------------------------------------------------


async def read_lease(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    # Raw mode hands back the HTTP response, whatever the generated signature says.
    response: Any = await client.CoordinationV1Api(api).read_namespaced_lease(
        LEASE, namespace, _preload_content=False, _request_timeout=10
    )
    try:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = json.loads(await response.read())
    finally:
        response.release()
    return body


async def write_lease(api: client.ApiClient, namespace: str, spec: dict[str, Any]) -> None:
    """Writes the Lease spec as another process would: create, or replace at the current RV."""
    leases = client.CoordinationV1Api(api)
    answer: Any
    for _ in range(20):
        response: Any = await leases.read_namespaced_lease(
            LEASE, namespace, _preload_content=False, _request_timeout=10
        )
        try:
            current = json.loads(await response.read())
            status = response.status
        finally:
            response.release()
        if status == 404:
            body: Any = {"metadata": {"name": LEASE, "namespace": namespace}, "spec": spec}
            answer = await leases.create_namespaced_lease(
                namespace, body, _preload_content=False, _request_timeout=10
            )
        else:
            current["spec"] = spec
            answer = await leases.replace_namespaced_lease(
                LEASE, namespace, current, _preload_content=False, _request_timeout=10
            )
        answer.release()
        if answer.status in (200, 201):
            return
        assert answer.status == 409, answer.status  # raced a renewal: read again
    raise AssertionError("could not write the lease")


def ghost_spec(**overrides: Any) -> dict[str, Any]:
    """A lease held by a holder that is not running; its timestamps are decades old."""
    spec: dict[str, Any] = {
        "holderIdentity": "ghost",
        "leaseDurationSeconds": 2,
        "acquireTime": "2000-01-01T00:00:00.000000Z",
        "renewTime": "2000-01-01T00:00:00.000000Z",
        "leaseTransitions": 3,
    }
    spec.update(overrides)
    return spec


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> float:
    """Polls `condition` in real time; returns the seconds it took."""
    start = time.monotonic()
    with anyio.fail_after(within):
        # Polling reads the code under test as it is, with no test hooks built into it.
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.02)
    return time.monotonic() - start


class Candidate:
    """One replica: an elector whose lead() only records when it runs and how it ended."""

    def __init__(
        self, api: client.ApiClient, config: LeaderElectionConfig, clock: Clock | None = None
    ) -> None:
        self.identity = config.identity
        self.leaders: list[str] = []
        self.elector = LeaderElector(api, config, clock=clock, on_new_leader=self.leaders.append)
        self.scope = anyio.CancelScope()
        self.leading = False
        self.started_at = 0.0
        self.stopped_at = 0.0
        self.lead_cancelled = False
        self.returned = False

    async def lead(self) -> None:
        self.leading = True
        self.started_at = time.monotonic()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.lead_cancelled = True
            raise
        finally:
            self.leading = False
            self.stopped_at = time.monotonic()

    async def run(self) -> None:
        with self.scope:
            await self.elector.run(self.lead)
            self.returned = True


# --- expiry on the local clock (LE-4, LE-5), with FakeClock ------------------------------


async def test_unrenewed_holder_is_taken_over_only_after_lease_duration_on_the_local_clock(
    api_client: client.ApiClient, namespace: str
) -> None:
    await write_lease(api_client, namespace, ghost_spec())
    clock = FakeClock()
    seen: list[str] = []
    elector = LeaderElector(
        api_client, fast(namespace, "me"), clock=clock, on_new_leader=seen.append
    )

    # The renewTime from the year 2000 is never compared with local time: the lease counts
    # as valid for leaseDurationSeconds from the moment this elector first saw it.
    assert not await elector.try_acquire_or_renew()
    assert elector.leader == "ghost"
    clock.step(1.9)
    assert not await elector.try_acquire_or_renew()
    clock.step(0.2)
    assert await elector.try_acquire_or_renew()

    spec = (await read_lease(api_client, namespace))["spec"]
    assert spec["holderIdentity"] == "me"
    assert spec["leaseTransitions"] == 4
    assert spec["leaseDurationSeconds"] == 2
    assert spec["acquireTime"] == spec["renewTime"] == format_micro_time(clock.wall())
    assert seen == ["ghost", "me"]


class _LateJitter(random.Random):
    def random(self) -> float:
        return 0.99  # every retry waits nearly the longest: 2.19 retry periods


async def test_a_standby_tries_again_the_moment_the_observed_lease_runs_out(
    api_client: client.ApiClient, namespace: str
) -> None:
    """Retries alone (one period at 0 s, then 2.19 s, 4.38 s) would take over 1.38 s after
    the 3 s lease ran out; waking at expiry takes over at 3 s."""
    await write_lease(api_client, namespace, ghost_spec(leaseDurationSeconds=3))
    clock = FakeClock()
    config = fast(namespace, "me", lease_duration=3.0, renew_deadline=2.5, retry_period=1.0)
    candidate = Candidate(api_client, config, clock=clock)
    candidate.elector._random = _LateJitter()
    async with anyio.create_task_group() as group:
        group.start_soon(candidate.run)
        await wait_until(lambda: clock.sleepers > 0)  # the first attempt saw the ghost
        while not candidate.leading and clock.now() < 6:
            clock.step(0.05)
            await anyio.sleep(0.03)
        taken_at = clock.now()
        candidate.scope.cancel()
    assert candidate.leaders[:2] == ["ghost", "me"]
    assert 3.0 <= taken_at <= 3.2


async def test_holder_that_keeps_renewing_is_never_taken_over(
    api_client: client.ApiClient, namespace: str
) -> None:
    await write_lease(api_client, namespace, ghost_spec())
    clock = FakeClock()
    elector = LeaderElector(api_client, fast(namespace, "me"), clock=clock)
    assert not await elector.try_acquire_or_renew()

    clock.step(1.5)
    # Any change to the record counts as a renewal, even a renewTime that goes backwards.
    await write_lease(api_client, namespace, ghost_spec(renewTime="1999-01-01T00:00:00.000000Z"))
    assert not await elector.try_acquire_or_renew()
    clock.step(1.5)
    assert not await elector.try_acquire_or_renew()  # 3 s since first sight, 1.5 s since change
    clock.step(0.6)
    assert await elector.try_acquire_or_renew()


async def test_expiry_uses_the_holders_lease_duration_not_our_own(
    api_client: client.ApiClient, namespace: str
) -> None:
    await write_lease(api_client, namespace, ghost_spec(leaseDurationSeconds=5))
    clock = FakeClock()
    elector = LeaderElector(api_client, fast(namespace, "me"), clock=clock)
    assert not await elector.try_acquire_or_renew()
    clock.step(4.9)
    assert not await elector.try_acquire_or_renew()
    clock.step(0.2)
    assert await elector.try_acquire_or_renew()


async def test_released_lease_is_taken_at_once_and_counts_a_transition(
    api_client: client.ApiClient, namespace: str
) -> None:
    await write_lease(api_client, namespace, ghost_spec(holderIdentity="", leaseDurationSeconds=1))
    elector = LeaderElector(api_client, fast(namespace, "me"), clock=FakeClock())
    assert await elector.try_acquire_or_renew()
    assert (await read_lease(api_client, namespace))["spec"]["leaseTransitions"] == 4


async def test_missing_lease_is_created_with_this_identity(
    api_client: client.ApiClient, namespace: str
) -> None:
    clock = FakeClock()
    elector = LeaderElector(api_client, fast(namespace, "me"), clock=clock)
    assert await elector.try_acquire_or_renew()
    spec = (await read_lease(api_client, namespace))["spec"]
    assert spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 2,
        "acquireTime": format_micro_time(clock.wall()),
        "renewTime": format_micro_time(clock.wall()),
        "leaseTransitions": 0,
    }


async def test_renewal_after_a_concurrent_edit_rereads_and_keeps_acquire_time(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    clock = FakeClock()
    elector = LeaderElector(api_client, fast(namespace, "me"), clock=clock)
    assert await elector.try_acquire_or_renew()
    acquired = (await read_lease(api_client, namespace))["spec"]["acquireTime"]
    # Someone else touches the Lease: the elector's cached resourceVersion is now stale, so
    # its optimistic PUT gets 409 and it must read the Lease again before renewing.
    control_plane.run_kubectl("annotate", "lease", LEASE, "-n", namespace, "touched=yes")

    clock.step(0.3)
    assert await elector.try_acquire_or_renew()
    lease = await read_lease(api_client, namespace)
    assert lease["metadata"]["annotations"]["touched"] == "yes"
    assert lease["spec"]["acquireTime"] == acquired
    assert lease["spec"]["renewTime"] == format_micro_time(clock.wall())
    assert lease["spec"]["leaseTransitions"] == 0


async def test_leader_is_unhealthy_once_unrenewed_past_lease_duration_plus_tolerance(
    api_client: client.ApiClient, namespace: str
) -> None:
    clock = FakeClock()
    candidate = Candidate(api_client, fast(namespace, "me"), clock=clock)
    async with anyio.create_task_group() as replicas:
        replicas.start_soon(candidate.run)
        await wait_until(lambda: candidate.leading)
        assert candidate.elector.healthy(max_tolerable_expiry=1.0)

        clock.step(2.0 + 1.0 + 0.1)  # wakes the renew loop, which has not run yet
        assert not candidate.elector.healthy(max_tolerable_expiry=1.0)
        await wait_until(lambda: candidate.elector.healthy(max_tolerable_expiry=1.0))
        assert candidate.leading

        candidate.scope.cancel()
    assert not candidate.elector.is_leader
    assert candidate.elector.healthy()
    assert (await read_lease(api_client, namespace))["spec"]["holderIdentity"] == ""


# --- running electors against the API server, in real time (LE-6, LE-7) ------------------


async def test_two_electors_exactly_one_leads_and_the_lease_names_it(
    api_client: client.ApiClient, namespace: str
) -> None:
    a = Candidate(api_client, fast(namespace, "replica-a"))
    b = Candidate(api_client, fast(namespace, "replica-b"))
    async with anyio.create_task_group() as replicas:
        replicas.start_soon(a.run)
        replicas.start_soon(b.run)
        await wait_until(lambda: a.leading or b.leading)
        leader, standby = (a, b) if a.leading else (b, a)
        first = (await read_lease(api_client, namespace))["spec"]

        until = time.monotonic() + 2 * 2.0  # two lease durations
        while time.monotonic() < until:
            assert leader.leading
            assert not standby.leading
            assert leader.elector.is_leader
            assert not standby.elector.is_leader
            await anyio.sleep(0.05)

        spec = (await read_lease(api_client, namespace))["spec"]
        replicas.cancel_scope.cancel()

    assert spec["holderIdentity"] == leader.identity
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.fullmatch(spec["acquireTime"])
    assert MICRO_TIME.fullmatch(spec["renewTime"])
    assert spec["acquireTime"] == first["acquireTime"]
    assert spec["renewTime"] > first["renewTime"]
    renewed = datetime.fromisoformat(spec["renewTime"])
    assert abs(datetime.now(UTC) - renewed) < timedelta(seconds=10)  # UTC, not local time
    assert standby.leaders == [leader.identity]


async def test_cancelled_leader_releases_and_the_standby_acquires_without_waiting(
    api_client: client.ApiClient, namespace: str
) -> None:
    # A 5 s lease: taking over by expiry would need about 5 s; a release makes it well under 2.
    a = Candidate(api_client, fast(namespace, "replica-a", lease_duration=5.0))
    b = Candidate(api_client, fast(namespace, "replica-b", lease_duration=5.0))
    async with anyio.create_task_group() as replicas:
        replicas.start_soon(a.run)
        await wait_until(lambda: a.leading)
        replicas.start_soon(b.run)
        await wait_until(lambda: b.elector.leader == "replica-a")

        a.scope.cancel()
        takeover = await wait_until(lambda: b.leading)
        spec = (await read_lease(api_client, namespace))["spec"]
        seen_by_b = list(b.leaders)
        replicas.cancel_scope.cancel()

    assert takeover < 2.0
    assert a.lead_cancelled
    assert not a.returned
    assert not a.elector.is_leader
    assert b.started_at > a.stopped_at
    assert spec["holderIdentity"] == "replica-b"
    assert spec["leaseTransitions"] == 1
    assert seen_by_b == ["replica-a", "", "replica-b"]


async def test_cancelled_leader_leaves_an_empty_holder_for_one_second(
    api_client: client.ApiClient, namespace: str
) -> None:
    a = Candidate(api_client, fast(namespace, "replica-a"))
    async with anyio.create_task_group() as replicas:
        replicas.start_soon(a.run)
        await wait_until(lambda: a.leading)
        a.scope.cancel()
    spec = (await read_lease(api_client, namespace))["spec"]
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.fullmatch(spec["renewTime"])


async def test_without_release_on_cancel_the_lease_keeps_its_holder(
    api_client: client.ApiClient, namespace: str
) -> None:
    a = Candidate(api_client, fast(namespace, "replica-a", release_on_cancel=False))
    async with anyio.create_task_group() as replicas:
        replicas.start_soon(a.run)
        await wait_until(lambda: a.leading)
        a.scope.cancel()
    spec = (await read_lease(api_client, namespace))["spec"]
    assert spec["holderIdentity"] == "replica-a"
    assert spec["leaseDurationSeconds"] == 2


async def test_lead_returning_ends_leading_and_releases(
    api_client: client.ApiClient, namespace: str
) -> None:
    elector = LeaderElector(api_client, fast(namespace, "replica-a"))
    ran: list[bool] = []

    async def lead() -> None:
        ran.append(elector.is_leader)

    with anyio.fail_after(10):
        await elector.run(lead)
    assert ran == [True]
    assert not elector.is_leader
    assert (await read_lease(api_client, namespace))["spec"]["holderIdentity"] == ""


async def test_lead_raising_is_reraised_as_is_after_the_release(
    api_client: client.ApiClient, namespace: str
) -> None:
    elector = LeaderElector(api_client, fast(namespace, "replica-a"))

    async def lead() -> None:
        raise RuntimeError("controller broke")

    with anyio.fail_after(10), pytest.raises(RuntimeError, match="controller broke"):
        await elector.run(lead)
    assert (await read_lease(api_client, namespace))["spec"]["holderIdentity"] == ""


async def test_a_second_concurrent_run_is_refused(
    api_client: client.ApiClient, namespace: str
) -> None:
    a = Candidate(api_client, fast(namespace, "replica-a"))
    async with anyio.create_task_group() as replicas:
        replicas.start_soon(a.run)
        await wait_until(lambda: a.leading)
        with pytest.raises(RuntimeError, match="already running"):
            await a.elector.run(a.lead)
        assert a.leading
        replicas.cancel_scope.cancel()


async def test_leader_whose_lease_is_stolen_stops_leading_and_run_returns(
    api_client: client.ApiClient, namespace: str
) -> None:
    a = Candidate(api_client, fast(namespace, "replica-a"))
    async with anyio.create_task_group() as replicas:
        replicas.start_soon(a.run)
        await wait_until(lambda: a.leading)

        stolen = ghost_spec(holderIdentity="thief", leaseDurationSeconds=30)
        await write_lease(api_client, namespace, stolen)
        # Lost after the next round misses its deadline: retry (0.3) + renew deadline (1.5).
        lost = await wait_until(lambda: not a.leading)
        await wait_until(lambda: a.returned, within=5.0)

    assert lost < 0.3 + 1.5 + 1.0
    assert a.lead_cancelled
    assert not a.elector.is_leader
    assert a.elector.leader == "thief"
    spec = (await read_lease(api_client, namespace))["spec"]
    assert spec["holderIdentity"] == "thief"  # the release left the thief's lease alone


# --- a leader cut off from the API server ----------------------------------------------------


async def keep_time_moving(clock: FakeClock, step: float) -> None:
    while True:
        clock.step(step)
        await anyio.sleep(0.05)


class FreezableProxy:
    """A loopback TCP relay to the API server that can stop passing bytes, like a hung
    connection: requests are read but neither forwarded nor answered while frozen."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._thawed = anyio.Event()
        self._thawed.set()

    def freeze(self) -> None:
        self._thawed = anyio.Event()

    def thaw(self) -> None:
        self._thawed.set()

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
            task_status.started()
            await listener.serve(self._relay)

    async def _relay(self, downstream: anyio.abc.SocketStream) -> None:
        async with (
            downstream,
            await anyio.connect_tcp("127.0.0.1", self.upstream_port) as upstream,
            anyio.create_task_group() as pumps,
        ):
            pumps.start_soon(self._pump, downstream, upstream, pumps.cancel_scope)
            pumps.start_soon(self._pump, upstream, downstream, pumps.cancel_scope)

    async def _pump(
        self,
        source: anyio.abc.SocketStream,
        sink: anyio.abc.SocketStream,
        both: anyio.CancelScope,
    ) -> None:
        try:
            async for chunk in source:
                await self._thawed.wait()
                await sink.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            both.cancel()


@asynccontextmanager
async def client_through_proxy(
    control_plane: ControlPlane,
) -> AsyncIterator[tuple[client.ApiClient, FreezableProxy]]:
    proxy = FreezableProxy(control_plane.api_port)
    async with anyio.create_task_group() as serving:
        await serving.start(proxy.serve)
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(control_plane.kubeconfig), client_configuration=configuration
        )
        configuration.host = f"https://127.0.0.1:{proxy.port}"
        async with client.ApiClient(configuration) as api:
            yield api, proxy
        serving.cancel_scope.cancel()


async def test_leader_cut_off_from_the_api_server_stops_leading_within_the_renew_deadline(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    # A 4 s lease keeps the standby's takeover clearly after the cut-off leader has stopped.
    settings = {"lease_duration": 4.0}
    async with client_through_proxy(control_plane) as (cut_off_api, proxy):
        a = Candidate(cut_off_api, fast(namespace, "replica-a", **settings))
        b = Candidate(api_client, fast(namespace, "replica-b", **settings))
        async with anyio.create_task_group() as replicas:
            replicas.start_soon(a.run)
            await wait_until(lambda: a.leading)
            replicas.start_soon(b.run)
            await wait_until(lambda: b.elector.leader == "replica-a")

            proxy.freeze()
            lost = await wait_until(lambda: not a.leading)
            # The release attempt cannot get through either; it gives up at its deadline.
            await wait_until(lambda: a.returned, within=1.5 + 1.0)
            await wait_until(lambda: b.leading, within=4.0 + 2.0)
            spec = (await read_lease(api_client, namespace))["spec"]
            replicas.cancel_scope.cancel()

    assert lost < 0.3 + 1.5 + 1.0
    assert a.lead_cancelled
    assert not a.elector.is_leader
    assert b.started_at > a.stopped_at
    assert spec["holderIdentity"] == "replica-b"
    assert spec["leaseTransitions"] == 1


async def test_hung_renewal_is_cancelled_at_the_deadline_on_the_injected_clock(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    clock = FakeClock()
    # With a 30 s renew deadline the real-time request timeout cannot end the hung call
    # within the 2 s this test allows: only the deadline on the FakeClock can.
    config_ = fast(namespace, "replica-a", lease_duration=40.0, renew_deadline=30.0)
    async with client_through_proxy(control_plane) as (cut_off_api, proxy):
        a = Candidate(cut_off_api, config_, clock=clock)
        async with anyio.create_task_group() as replicas:
            replicas.start_soon(a.run)
            await wait_until(lambda: a.leading)
            await wait_until(lambda: clock.sleepers == 1)  # the renew loop's pause

            proxy.freeze()
            clock.step(config_.retry_period)
            await wait_until(lambda: clock.sleepers == 1)  # the round's deadline
            await anyio.sleep(0.2)  # the renewal is now stuck in the frozen proxy
            assert a.leading
            clock.step(config_.renew_deadline)
            await wait_until(lambda: not a.leading, within=2.0)

            # The held renewal may reach the server after the thaw and race the release,
            # which then retries after retry_period: keep fake time moving.
            proxy.thaw()
            async with anyio.create_task_group() as ticking:
                ticking.start_soon(keep_time_moving, clock, config_.retry_period)
                await wait_until(lambda: a.returned)
                ticking.cancel_scope.cancel()

    assert a.lead_cancelled
    assert (await read_lease(api_client, namespace))["spec"]["holderIdentity"] == ""
