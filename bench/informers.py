"""How fast an informer syncs and follows a large collection, and what it costs to hold.

Starts a private control plane and creates N ConfigMaps (3 labels, 1 annotation, 5 data
keys; ~1 KiB as JSON with managedFields) in one namespace, then prints a table of:
- the time `kubectl get configmaps -o json` takes for them, and the time an informer takes
  from start to has_synced (LIST, decode, trim, store, index, one handler); best of R runs;
- resident memory per cached object: RSS growth of this process from before the first
  informer to after its sync, divided by N (measured first, in a fresh process);
- watch events handled per second, end to end: the informer is cut off from the server
  (a loopback proxy), E updates are made, and it then catches up from its resourceVersion;
  rate between its first and last handler call;
- the same handling in-process only (decode, trim, store, index, handler), without HTTP.
Run: `.venv/bin/python bench/informers.py [--objects 10000] [--events 5000] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Run as a file, this script's directory comes first on sys.path, and this file's name
# would hide the `informers` package it measures: the repository root takes its place.
if not __package__:
    _here = Path(__file__).resolve().parent
    sys.path[:] = [str(REPO) if Path(p or ".").resolve() == _here else p for p in sys.path]

import anyio  # noqa: E402
from kubernetes_asyncio import client, config  # noqa: E402

from devcluster.cluster import ControlPlane  # noqa: E402
from informers.decoding import strip_managed_fields  # noqa: E402
from informers.handlers import HandlerFuncs  # noqa: E402
from informers.informer import Informer  # noqa: E402
from informers.reflector import ReflectorOptions  # noqa: E402
from informers.resource import Resource  # noqa: E402
from tests.informers.tcpproxy import TcpProxy  # noqa: E402

CONFIGMAPS = Resource("", "v1", "configmaps", namespaced=True)
NAMESPACE = "bench"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def by_app(obj: dict[str, Any]) -> list[str]:
    app = (obj["metadata"].get("labels") or {}).get("app")
    return [app] if app else []


def configmap(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"cm-{i:05d}",
            "labels": {"app": f"app-{i % 50}", "tier": "backend", "bench": "yes"},
            "annotations": {"bench/created-by": "informers-bench"},
        },
        "data": {f"key-{k}": f"value-{i}-{k}-" + "x" * 24 for k in range(5)},
    }


async def admin(plane: ControlPlane, host: str | None = None) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(plane.kubeconfig), client_configuration=configuration
    )
    if host:
        configuration.host = host
    return client.ApiClient(configuration)


async def create_objects(api: client.ApiClient, count: int) -> None:
    core = client.CoreV1Api(api)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            response = await core.create_namespaced_config_map(
                NAMESPACE, configmap(i), _preload_content=False
            )
            response.release()

    async with anyio.create_task_group() as tasks:
        for _ in range(24):
            tasks.start_soon(worker)


async def update_objects(api: client.ApiClient, count: int, total: int) -> None:
    core = client.CoreV1Api(api)
    targets = iter(range(count))

    async def worker() -> None:
        for n in targets:
            body = {"data": {"key-0": f"updated-{n}"}}
            response = await core.patch_namespaced_config_map(
                f"cm-{n % total:05d}", NAMESPACE, body, _preload_content=False
            )
            response.release()

    async with anyio.create_task_group() as tasks:
        for _ in range(24):
            tasks.start_soon(worker)


def time_kubectl(plane: ControlPlane, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(plane.kubectl), f"--kubeconfig={plane.kubeconfig}", *args],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


async def sync_once(api: client.ApiClient) -> tuple[float, Informer]:
    counted = [0]
    informer = Informer(api, CONFIGMAPS, namespace=NAMESPACE, indexers={"app": by_app})
    informer.add_event_handler(
        HandlerFuncs(add=lambda o, _: counted.__setitem__(0, counted[0] + 1))
    )
    async with anyio.create_task_group() as tasks:
        started = time.perf_counter()
        tasks.start_soon(informer.run)
        await informer.wait_for_sync()
        elapsed = time.perf_counter() - started
        tasks.cancel_scope.cancel()
    return elapsed, informer


async def events_end_to_end(
    plane: ControlPlane, api: client.ApiClient, events: int, total: int
) -> tuple[float, str]:
    proxy = TcpProxy("127.0.0.1", plane.api_port)
    await proxy.start()
    proxied = await admin(plane, f"https://127.0.0.1:{proxy.port}")
    stamps: list[float] = []
    caught_up = anyio.Event()

    def on_update(old: dict[str, Any], new: dict[str, Any], is_resync: bool) -> None:
        if not is_resync:
            stamps.append(time.perf_counter())
            if len(stamps) == events:
                caught_up.set()

    informer = Informer(
        proxied,
        CONFIGMAPS,
        namespace=NAMESPACE,
        indexers={"app": by_app},
        options=ReflectorOptions(min_watch_timeout=600),
    )
    informer.add_event_handler(HandlerFuncs(update=on_update))
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(informer.run)
            await informer.wait_for_sync()
            proxy.cut()
            await update_objects(api, events, total)
            proxy.resume()
            await caught_up.wait()
            tasks.cancel_scope.cancel()
    finally:
        await proxied.close()
        await proxy.close()
    how = "relist after 410" if informer.stats.expired else "watch replay"
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]), how


def events_in_process(api: client.ApiClient, events: int) -> float:
    """Decode (dropping managedFields), store, index and handler, fed from prepared watch
    lines: the work the reflector does per event once the bytes have arrived."""
    informer = Informer(api, CONFIGMAPS, namespace=NAMESPACE, indexers={"app": by_app})
    informer.add_event_handler(HandlerFuncs(update=lambda old, new, resync: None))
    lines = []
    for n in range(events):
        obj = configmap(n % 1000)
        obj["metadata"].update(namespace=NAMESPACE, resourceVersion=str(n + 2), uid=f"u{n % 1000}")
        obj["metadata"]["managedFields"] = [{"manager": "bench", "operation": "Update"}]
        lines.append(json.dumps({"type": "MODIFIED", "object": obj}).encode())
    informer.replace([json.loads(line)["object"] for line in lines[:1000]], "1")
    started = time.perf_counter()
    for line in lines:
        informer.upsert(strip_managed_fields(json.loads(line)["object"]))
    return events / (time.perf_counter() - started)


async def main_async(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="informers-bench-") as work:
        plane = ControlPlane(Path(work) / "plane")
        plane.start()
        try:
            plane.run_kubectl("create", "namespace", NAMESPACE)
            api = await admin(plane)
            try:
                print(f"creating {args.objects} ConfigMaps ...", file=sys.stderr)
                await create_objects(api, args.objects)
                # Memory first, while this process has allocated little else.
                gc.collect()
                before = rss()
                first, informer = await sync_once(api)
                gc.collect()
                per_object = (rss() - before) / len(informer.store)
                stored = len(informer.store)
                del informer
                gc.collect()
                get = ("get", "configmaps", "-n", NAMESPACE, "-o", "json")
                kubectl = min(time_kubectl(plane, *get) for _ in range(args.rounds))
                path = f"/api/v1/namespaces/{NAMESPACE}/configmaps?resourceVersion=0"
                raw = min(time_kubectl(plane, "get", "--raw", path) for _ in range(args.rounds))
                syncs = [first] + [(await sync_once(api))[0] for _ in range(args.rounds - 1)]
                best = min(syncs)
                rows += [
                    (f"kubectl get -o json, {stored} objects", f"{kubectl:.3f} s", ""),
                    ("  for reference: kubectl get --raw, same list", f"{raw:.3f} s", ""),
                    (f"informer start to has_synced, {stored} objects", f"{best:.3f} s", ""),
                    ("  informer / kubectl", f"{best / kubectl:.2f}x", "<= 1.2x"),
                    ("RSS per cached object", f"{per_object / 1024:.2f} KiB", "<= 6 KiB"),
                ]
                print(f"updating {args.events} objects behind a cut proxy ...", file=sys.stderr)
                rate, how = await events_end_to_end(plane, api, args.events, args.objects)
                rows.append((f"watch events handled/s (end to end, {how})", f"{rate:,.0f}", ""))
                local = events_in_process(api, args.events)
                rows.append(("watch events handled/s (in-process, no HTTP)", f"{local:,.0f}", ""))
            finally:
                await api.close()
        finally:
            plane.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")


if __name__ == "__main__":
    main()
